import assert from 'node:assert/strict';
import { rewriteDataloader } from '../../../src/core/packaging/rewrite';

describe('packaging: rewriting the dataloader config for the package', () => {
  it('moves local paths into the package and keeps remote and disabled datasets exactly as written', () => {
    const cfg = [
      { id: 'pics', type: 'local', instance_data_root: '/home/me/pics', cache_dir_vae: '/home/me/cache/vae/{id}' },
      { id: 's3', type: 'aws', aws_bucket_name: 'b', aws_data_prefix: 'imgs/', cache_dir_vae: 'vae/{id}/', aws_secret_access_key: '{env:AWS_SECRET_ACCESS_KEY}' },
      { id: 's3-text', type: 'aws', dataset_type: 'text_embeds', cache_dir: 'text-cache/', aws: { aws_bucket_name: 'b' } },
      { id: 'hub', type: 'huggingface', dataset_name: 'x/y', cache_dir: '/home/me/.cache/hf' },
      { id: 'old', type: 'local', instance_data_dir: '/home/me/old', cache_dir_vae: '/home/me/cache/old', disable: true },
      { id: 'te', type: 'local', dataset_type: 'text_embeds', cache_dir: '/home/me/cache/text' },
    ];
    const out = rewriteDataloader(cfg, [{ index: 0, id: 'pics', archivePrefix: 'datasets/pics' }], '/pkg') as Array<Record<string, unknown>>;
    assert.deepEqual(out[0], { id: 'pics', type: 'local', instance_data_dir: '/pkg/datasets/pics', cache_dir_vae: '/pkg/cache/pics/vae' }, 'the old name instance_data_root no longer points at this machine');
    for (const i of [1, 2, 3, 4]) assert.deepEqual(out[i], cfg[i], `${cfg[i]!.id} is kept as written`);
    assert.equal(out[5]!.cache_dir, '/pkg/cache/te/cache');
  });
});
