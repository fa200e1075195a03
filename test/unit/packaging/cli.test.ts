import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { runPackage } from '../../../src/cli/commands/package';
import { runValidate } from '../../../src/cli/commands/validate';
import { PackageResultSchema } from '../../../src/core/packaging';
import { makeWorkspace, tempDir, write } from './fixtures';
import { readZip } from './zip-read';
import { capturedIo } from '../../support/captured-io';

function io(cwd: string, dataHome: string) {
  const cli = capturedIo({ env: {}, cwd, dataHome });
  return { cli, out: cli.out, err: cli.err };
}

describe('cli: cloudtrain validate / package', () => {
  let root: string;
  beforeEach(async () => { root = await tempDir('ct-cli-'); });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });

  it('validate prints file:line:col diagnostics and exits 1 on errors, 0 when clean, --json for machines', async () => {
    const { dataloader, training } = await makeWorkspace(root);
    const ok = io(root, path.join(root, 'home'));
    assert.equal(await runValidate([path.relative(root, training)], ok.cli), 0);
    assert.match(ok.out(), /^OK: config\/config.json, config\/multidatabackend.json/);

    await fs.writeFile(dataloader, '[\n  {"id": "a", "instance_data_dir": "datasets/missing", "type": "local"},\n  {"id": "a", "type": "huggingface", "dataset_name": "someone/photos"}\n]\n');
    const bad = io(root, path.join(root, 'home'));
    assert.equal(await runValidate(['config/multidatabackend.json'], bad.cli), 1);
    assert.match(bad.out(), /config\/multidatabackend.json:2:36: error: "instance_data_dir" points to .* does not exist.*\[missing-path\]/);
    assert.match(bad.out(), /config\/multidatabackend.json:3:10: error: Duplicate dataset id "a".*\[duplicate-id\]/);
    const json = io(root, path.join(root, 'home'));
    assert.equal(await runValidate(['config/multidatabackend.json', '--json'], json.cli), 1);
    const parsed = JSON.parse(json.out()) as { ok: boolean; diagnostics: Array<{ code: string; line: number }> };
    assert.equal(parsed.ok, false);
    assert.deepEqual(parsed.diagnostics.map((d) => [d.code, d.line]), [['missing-path', 2], ['duplicate-id', 3]]);
  });

  it('validate: a training config with a JSON syntax error gets one message at its line and column, and --json keeps its shape', async () => {
    await makeWorkspace(root);
    await fs.writeFile(path.join(root, 'config/config.json'), '{\n  "--data_backend_config": "config/multidatabackend.json",\n  "--model_type": "lora",\n}\n');
    const r = io(root, path.join(root, 'home'));
    assert.equal(await runValidate(['config/config.json'], r.cli), 1);
    assert.equal(r.out(), 'config/config.json:3:25: error: JSON syntax error: a trailing comma (JSON allows none; remove it). SimpleTuner reads this file with a strict JSON parser. [json-syntax]\n1 error, 0 warnings\n');
    const j = io(root, path.join(root, 'home'));
    assert.equal(await runValidate(['config/config.json', '--json'], j.cli), 1);
    const parsed = JSON.parse(j.out()) as { ok: boolean; files: string[]; diagnostics: Array<Record<string, unknown>> };
    assert.deepEqual(Object.keys(parsed), ['ok', 'files', 'diagnostics']);
    assert.deepEqual(Object.keys(parsed.diagnostics[0]!).sort(), ['code', 'column', 'file', 'length', 'line', 'message', 'offset', 'severity']);
    assert.deepEqual([parsed.diagnostics[0]!.line, parsed.diagnostics[0]!.column], [3, 25]);
  });

  it('validate: a dataloader config on its own is judged with the options of the training config naming it', async () => {
    const { dataloader, training } = await makeWorkspace(root);
    const cfg = JSON.parse(await fs.readFile(dataloader, 'utf8')) as Array<Record<string, unknown>>;
    cfg[0]!.caption_strategy = 'instanceprompt';
    await fs.writeFile(dataloader, JSON.stringify(cfg, null, 2));
    const without = io(root, path.join(root, 'home'));
    assert.equal(await runValidate(['config/multidatabackend.json'], without.cli), 1, 'the training config sets no --instance_prompt: SimpleTuner refuses');
    assert.match(without.out(), /error: caption_strategy "instanceprompt" needs an "instance_prompt".*\[instance-prompt\]/);
    const t = JSON.parse(await fs.readFile(training, 'utf8')) as Record<string, unknown>;
    await fs.writeFile(training, JSON.stringify({ ...t, '--instance_prompt': 'a photo of sks' }));
    const withPrompt = io(root, path.join(root, 'home'));
    assert.equal(await runValidate(['config/multidatabackend.json'], withPrompt.cli), 0);
  });

  it('package writes the zip to --out and prints datasets, exclusions with reasons and the sha256', async () => {
    const { training } = await makeWorkspace(root, { datasets: { faces: { 'a.jpg': Buffer.alloc(10, 1), 'a.txt': 'cap', '.env': 'TOKEN=x', 'id_ed25519': 'k' } } });
    const home = path.join(root, 'home');
    const r = io(root, home);
    assert.equal(await runPackage([path.relative(root, training), '--out', 'out/pkg.zip'], r.cli), 0);
    assert.match(r.out(), /^Package [0-9a-f]{64}\n/);
    assert.match(r.out(), /faces\s+2 files/);
    assert.match(r.out(), /faces: \.env — secret: \.env\* file/);
    assert.match(r.out(), /faces: id_ed25519 — secret: SSH private key/);
    assert.match(r.out(), /training config: --hub_token — secret: credential removed/);
    assert.match(r.err(), /packaging: /);
    const zip = await readZip(path.join(root, 'out/pkg.zip'));
    assert.ok(zip.has('datasets/faces/a.jpg') && zip.has('manifest.json') && zip.has('config/config.json'));

    const again = io(root, home);
    assert.equal(await runPackage(['config/multidatabackend.json', '--out', 'out/pkg2.zip', '--json'], again.cli), 0);
    const result = PackageResultSchema.extend({}).passthrough().parse(JSON.parse(again.out()));
    assert.equal(result.datasets[0]!.files, 2);
    assert.ok(result.zipPath.startsWith(path.join(home, 'cache', 'packages')));
  });

  it('package fails with located diagnostics for a broken config', async () => {
    await write(path.join(root, 'config/multidatabackend.json'), '[{"id": "a", "instance_data_dir": "nope", "type": "local"}, {"id": "t", "dataset_type": "text_embeds", "default": true, "type": "local"}]');
    const r = io(root, path.join(root, 'home'));
    await assert.rejects(runPackage(['config/multidatabackend.json'], r.cli), /problem to fix before packaging/);
    assert.match(r.err(), /config\/multidatabackend.json:1:35: error: .*does not exist/);
  });
});
