import assert from 'node:assert/strict';
import { localDatasetsOf, rewriteDataloader } from '../../../src/providers/ssh/provider';

describe('ssh: the dataloader config written for the host', () => {
  it('syncs enabled local datasets only and moves only local caches; remote and disabled datasets stay as written', () => {
    const cfg = [
      { id: 'pics', type: 'local', instance_data_dir: '/w/pics', cache_dir_vae: '/w/cache/vae' },
      { id: 's3', type: 'aws', aws_bucket_name: 'b', cache_dir_vae: 'vae/{id}/' },
      { id: 'old', type: 'local', instance_data_dir: '/w/old', cache_dir_vae: '/w/cache/old', disable: true },
    ];
    assert.deepEqual(localDatasetsOf(cfg, '/w/config', '/w').map((d) => d.id), ['pics']);
    const out = rewriteDataloader(cfg, '/w/config', '/w', new Map([['/w/pics', '/host/ds/pics']]), '/host/cache') as Array<Record<string, unknown>>;
    assert.deepEqual(out[0], { id: 'pics', type: 'local', instance_data_dir: '/host/ds/pics', cache_dir_vae: '/host/cache/pics/cache_dir_vae' });
    assert.deepEqual(out[1], cfg[1]);
    assert.deepEqual(out[2], cfg[2]);
  });
});
