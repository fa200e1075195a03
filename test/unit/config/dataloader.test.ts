import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkDatasetPaths, parseDataloaderConfig, type ConfigDiagnostic } from '../../../src/core/config';

/** The text a diagnostic points at: checks locations exactly, not just "some diagnostic exists". */
const at = (text: string, d: { offset: number; length: number }) => text.slice(d.offset, d.offset + d.length);
const byCode = (ds: ConfigDiagnostic[], code: string) => ds.filter((d) => d.code === code);

describe('config: dataloader parsing and validation', () => {
  it('accepts SimpleTuner\'s real fields, keeps unknown ones, and refuses the object shape SimpleTuner\'s trainer cannot read', () => {
    const entries = [
      { id: 'photos', type: 'local', dataset_type: 'image', instance_data_dir: 'd/photos', caption_strategy: 'textfile', resolution: 1024, resolution_type: 'pixel_area',
        crop: true, crop_style: 'random', crop_aspect: 'closest', crop_aspect_buckets: [1.0, 0.75], minimum_image_size: 512, maximum_image_size: 2048, target_downsample_size: 1536, repeats: 3, probability: 0.5,
        cache_dir_vae: 'cache/vae', text_embeds: 'te', conditioning_data: 'canny', brand_new_option: { x: 1 } },
      { id: 'canny', type: 'local', dataset_type: 'conditioning', instance_data_dir: 'd/canny', source_dataset_id: 'photos', cache_dir_vae: 'cache/vae-canny' },
      { id: 's3', type: 'aws', aws_bucket_name: 'b', aws_region_name: null, aws_endpoint_url: 'https://s3.example.com', aws_access_key_id: '{env:AWS_ACCESS_KEY_ID}', aws_secret_access_key: '{env:AWS_SECRET_ACCESS_KEY}', aws_data_prefix: 'imgs/' },
      { id: 'te', type: 'local', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/te' },
      { id: 'hf', type: 'huggingface', dataset_type: 'image', caption_strategy: 'huggingface', huggingface: { dataset_name: 'x/y' } },
    ];
    const text = JSON.stringify(entries, null, 2);
    const p = parseDataloaderConfig(text, '/w/config/multidatabackend.json');
    assert.deepEqual(p.diagnostics, []);
    assert.equal(p.datasets.length, 5);
    assert.deepEqual((p.datasets[0]!.entry as Record<string, unknown>).brand_new_option, { x: 1 });
    assert.deepEqual(p.datasets[0]!.paths.map((x) => x.field), ['instance_data_dir', 'cache_dir_vae']);
    assert.equal(at(text, p.datasets[0]!.paths[0]!), '"d/photos"');

    const wrapped = JSON.stringify({ datasets: entries, extra: true }, null, 2);
    const w = parseDataloaderConfig(wrapped, '/w/config/multidatabackend.json');
    assert.equal(w.shape, 'object');
    assert.equal(w.datasets.length, 5, 'still read, for the editor\'s features');
    assert.deepEqual(w.diagnostics.map((d) => [d.code, at(wrapped, d)]), [['shape', '"datasets"']]);
  });

  it('points each problem at the exact JSON location with a message that says what to do', () => {
    const text = JSON.stringify([
      { id: 'a', type: 'local', instance_data_dir: 'x', text_embeds: 'nope' },
      { id: 'a', type: 'lokal', instance_data_dir: 'y' },
      { id: 'c', type: 'aws', aws_bucket_name: 'b', aws_secret_access_key: 'AKIAsecretvalue' },
      { id: 'd', type: 'local', caption_strategy: 'textfile', repeats: 'many' },
      { id: 'e', type: 'local', instance_data_dir: 'z', dataset_type: 'imgae' },
    ], null, 2);
    const d = parseDataloaderConfig(text, '/w/multidatabackend.json').diagnostics;
    const dup = byCode(d, 'duplicate-id');
    assert.equal(dup.length, 1);
    assert.equal(at(text, dup[0]!), '"a"');
    assert.ok(dup[0]!.offset > text.indexOf('"a"'), 'the second occurrence is flagged');
    assert.match(dup[0]!.message, /unique/);
    const link = byCode(d, 'unknown-link')[0]!;
    assert.equal(at(text, link), '"nope"');
    assert.match(link.message, /not defined in this file\. Known ids: a, c, d, e/);
    const type = byCode(d, 'backend-type')[0]!;
    assert.equal(at(text, type), '"lokal"');
    assert.match(type.message, /Unknown type "lokal": SimpleTuner supports local, aws/);
    assert.equal(at(text, byCode(d, 'dataset-type')[0]!), '"imgae"');
    assert.equal(at(text, byCode(d, 'number')[0]!), '"many"');
    const cred = byCode(d, 'credential-in-file')[0]!;
    assert.equal(at(text, cred), '"AKIAsecretvalue"');
    assert.equal(cred.severity, 'warning', 'SimpleTuner accepts it; we only warn that it would travel');
    assert.match(cred.message, /\{env:AWS_SECRET_ACCESS_KEY\}/);
    const aws = byCode(d, 'remote-required')[0]!;
    assert.equal(at(text, aws), '"aws"');
    assert.match(aws.message, /"aws_endpoint_url", "aws_access_key_id"/);
    const noDir = byCode(d, 'missing-instance-data-dir')[0]!;
    assert.equal(at(text, noDir), '"d"');
    assert.match(noDir.message, /add the folder/);
    assert.deepEqual(byCode(d, 'no-text-embeds'), [], 'SimpleTuner creates a default text_embeds dataset');
  });

  it('checks link targets\' types; several text-embed datasets without a default are fine, two defaults are not', () => {
    const text = JSON.stringify([
      { id: 'img', type: 'local', instance_data_dir: 'x', text_embeds: 'img2' },
      { id: 'img2', type: 'local', instance_data_dir: 'y' },
      { id: 't1', type: 'local', dataset_type: 'text_embeds' },
      { id: 't2', type: 'local', dataset_type: 'text_embeds' },
    ]);
    const d = parseDataloaderConfig(text, '/w/multidatabackend.json').diagnostics;
    assert.deepEqual(d.map((x) => [x.code, at(text, x)]), [['link-type', '"img2"']]);
    const two = JSON.stringify([{ id: 'i', type: 'local', instance_data_dir: 'x' }, { id: 't1', type: 'local', dataset_type: 'text_embeds', default: true }, { id: 't2', type: 'local', dataset_type: 'text_embeds', default: true }]);
    const d2 = parseDataloaderConfig(two, '/w/m.json').diagnostics;
    assert.deepEqual(d2.map((x) => x.code), ['text-embeds-default']);
    assert.equal(d2[0]!.offset, two.lastIndexOf('true'));
  });

  it('reports JSON syntax errors once each, at the place to fix, and wrong shapes', () => {
    const bad = '[{"id": "a",}]';
    const d = parseDataloaderConfig(bad, '/w/m.json').diagnostics;
    assert.deepEqual(d.map((x) => [x.code, x.offset]), [['json-syntax', bad.indexOf(',}')]]);
    assert.match(d[0]!.message, /trailing comma/);
    assert.equal(parseDataloaderConfig('{"nope": 1}', '/w/m.json').diagnostics[0]!.code, 'shape');
    assert.equal(parseDataloaderConfig('[]', '/w/m.json').diagnostics[0]!.code, 'no-datasets');
    assert.equal(parseDataloaderConfig('[1]', '/w/m.json').diagnostics[0]!.code, 'dataset-shape');
  });

  describe('folder checks on disk', () => {
    let root: string;
    before(async () => { root = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-config-')); });
    after(async () => { await fs.rm(root, { recursive: true, force: true }); });

    it('flags a missing folder, a file instead of a folder, and an empty dataset; resolves paths from the folder holding config/', async () => {
      await fs.mkdir(path.join(root, 'datasets/full'), { recursive: true });
      await fs.writeFile(path.join(root, 'datasets/full/a.png'), 'x');
      await fs.mkdir(path.join(root, 'datasets/empty'), { recursive: true });
      await fs.writeFile(path.join(root, 'datasets/file'), 'x');
      await fs.mkdir(path.join(root, 'config'));
      const file = path.join(root, 'config', 'multidatabackend.json');
      const text = JSON.stringify([
        { id: 'full', type: 'local', instance_data_dir: 'datasets/full' },
        { id: 'gone', type: 'local', instance_data_dir: 'datasets/gone' },
        { id: 'empty', type: 'local', instance_data_dir: 'datasets/empty' },
        { id: 'file', type: 'local', instance_data_dir: 'datasets/file' },
        { id: 'off', type: 'local', disabled: true, instance_data_dir: 'datasets/also-gone' },
        { id: 'off2', type: 'local', disable: true, instance_data_dir: 'datasets/gone-too' },
        { id: 'abs', type: 'local', instance_data_dir: path.join(root, 'datasets/full') },
        { id: 'env', type: 'local', instance_data_dir: '{env:DATA_ROOT}/x' },
        { id: 'te', type: 'local', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/never-created' },
      ], null, 2);
      const d = await checkDatasetPaths(parseDataloaderConfig(text, file));
      assert.deepEqual(d.map((x) => [x.code, at(text, x)]), [
        ['missing-path', '"datasets/gone"'],
        ['empty-dataset', '"datasets/empty"'],
        ['not-a-directory', '"datasets/file"'],
      ]);
      assert.match(d[0]!.message, new RegExp(`${path.join(root, 'datasets/gone').replace(/[/\\]/g, '.')}.*does not exist`));
      assert.match(d[1]!.message, /is empty/);
    });

    it('validates the lead\'s example workspace without problems (read-only)', async () => {
      const file = path.resolve(__dirname, '../../../examples/simpletuner-demo/config/multidatabackend.json');
      const text = await fs.readFile(file, 'utf8');
      const p = parseDataloaderConfig(text, file);
      assert.deepEqual([...p.diagnostics, ...(await checkDatasetPaths(p))], []);
    });
  });
});
