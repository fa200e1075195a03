import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkDatasetPaths, parseDataloaderConfig, type ConfigDiagnostic } from '../../../src/core/config';

/** The text a diagnostic points at: checks locations exactly, not just "some diagnostic exists". */
const at = (text: string, d: { offset: number; length: number }) => text.slice(d.offset, d.offset + d.length);
const byCode = (ds: ConfigDiagnostic[], code: string) => ds.filter((d) => d.code === code);

describe('config: dataloader parsing and validation', () => {
  it('accepts SimpleTuner\'s real fields, keeps unknown ones, and reads both file shapes', () => {
    const entries = [
      { id: 'photos', type: 'local', dataset_type: 'image', instance_data_dir: 'd/photos', caption_strategy: 'textfile', resolution: 1024, resolution_type: 'pixel_area',
        crop: true, crop_style: 'random', crop_aspect: 'closest', crop_aspect_buckets: [1.0, 0.75], minimum_image_size: 512, maximum_image_size: 2048, repeats: 3, probability: 0.5,
        cache_dir_vae: 'cache/vae', text_embeds: 'te', conditioning_data: 'canny', brand_new_option: { x: 1 } },
      { id: 'canny', type: 'local', dataset_type: 'conditioning', instance_data_dir: 'd/canny', source_dataset_id: 'photos' },
      { id: 's3', type: 'aws', aws_bucket_name: 'b', aws_region_name: null, aws_data_prefix: 'imgs/' },
      { id: 'te', type: 'local', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/te' },
      { id: 'hf', type: 'huggingface', dataset_type: 'image', caption_strategy: 'huggingface', huggingface: { dataset_name: 'x/y' } },
    ];
    for (const text of [JSON.stringify(entries, null, 2), JSON.stringify({ datasets: entries, extra: true }, null, 2)]) {
      const p = parseDataloaderConfig(text, '/w/config/multidatabackend.json');
      assert.deepEqual(p.diagnostics, []);
      assert.equal(p.datasets.length, 5);
      assert.deepEqual((p.datasets[0]!.entry as Record<string, unknown>).brand_new_option, { x: 1 });
      assert.deepEqual(p.datasets[0]!.paths.map((x) => x.field), ['instance_data_dir', 'cache_dir_vae']);
      assert.equal(at(text, p.datasets[0]!.paths[0]!), '"d/photos"');
    }
  });

  it('points each problem at the exact JSON location with a message that says what to do', () => {
    const text = JSON.stringify([
      { id: 'a', type: 'local', instance_data_dir: 'x', text_embeds: 'nope' },
      { id: 'a', type: 'lokal', instance_data_dir: 'y' },
      { id: 'c', type: 'aws', aws_bucket_name: 'b', aws_secret_access_key: 'AKIAsecretvalue' },
      { id: 'd', type: 'local', caption_strategy: 'textfile' },
      { id: 'e', type: 'local', instance_data_dir: 'z', repeats: 1.5, dataset_type: 'imgae' },
    ], null, 2);
    const d = parseDataloaderConfig(text, '/w/multidatabackend.json').diagnostics;
    const dup = byCode(d, 'duplicate-id');
    assert.equal(dup.length, 1);
    assert.equal(at(text, dup[0]!), '"a"');
    assert.ok(dup[0]!.offset > text.indexOf('"a"'), 'the second occurrence is flagged');
    assert.match(dup[0]!.message, /unique/);
    const link = byCode(d, 'unknown-link')[0]!;
    assert.equal(at(text, link), '"nope"');
    assert.match(link.message, /not defined.*Known ids: a, a, c, d, e|not defined/);
    const type = d.find((x) => x.code === 'schema' && at(text, x) === '"lokal"')!;
    assert.match(type.message, /Unknown type "lokal": use one of local, aws/);
    assert.ok(d.find((x) => at(text, x) === '"imgae"' && /dataset_type/.test(x.message)));
    assert.ok(d.find((x) => at(text, x) === '1.5' && /whole number/.test(x.message)));
    const cred = byCode(d, 'credential-in-file')[0]!;
    assert.equal(at(text, cred), '"AKIAsecretvalue"');
    assert.match(cred.message, /environment/);
    const noDir = byCode(d, 'missing-instance-data-dir')[0]!;
    assert.equal(at(text, noDir), '"d"');
    assert.match(noDir.message, /add the folder/);
    const noEmbeds = byCode(d, 'no-text-embeds')[0]!;
    assert.equal(noEmbeds.severity, 'error');
    assert.match(noEmbeds.message, /text_embeds/);
  });

  it('checks link targets\' types and asks for a default among several text-embed backends', () => {
    const text = JSON.stringify([
      { id: 'img', type: 'local', instance_data_dir: 'x', text_embeds: 'img2' },
      { id: 'img2', type: 'local', instance_data_dir: 'y' },
      { id: 't1', type: 'local', dataset_type: 'text_embeds' },
      { id: 't2', type: 'local', dataset_type: 'text_embeds' },
    ]);
    const d = parseDataloaderConfig(text, '/w/multidatabackend.json').diagnostics;
    assert.equal(at(text, byCode(d, 'link-type')[0]!), '"img2"');
    assert.match(byCode(d, 'no-default-text-embeds')[0]!.message, /"default": true/);
  });

  it('reports JSON syntax errors and wrong shapes', () => {
    const bad = '[{"id": "a",}]';
    const d = parseDataloaderConfig(bad, '/w/m.json').diagnostics;
    assert.equal(d[0]!.code, 'json-syntax');
    assert.equal(d[0]!.offset, bad.indexOf('}'));
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
        { id: 'full', instance_data_dir: 'datasets/full' },
        { id: 'gone', instance_data_dir: 'datasets/gone' },
        { id: 'empty', instance_data_dir: 'datasets/empty' },
        { id: 'file', instance_data_dir: 'datasets/file' },
        { id: 'off', disabled: true, instance_data_dir: 'datasets/also-gone' },
        { id: 'abs', instance_data_dir: path.join(root, 'datasets/full') },
        { id: 'te', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/never-created' },
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
