import assert from 'node:assert/strict';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findNodeAtLocation, parseTree } from 'jsonc-parser';
import { validateConfigFile } from '../../../src/core/config';
import { TEMPLATE_VARIABLES } from '../../../src/core/config/simpletuner';

/**
 * Our own fixtures of every shape SimpleTuner's dataloader configs take (test/fixtures/simpletuner/*.json),
 * each naming the SimpleTuner check it exercises. `accept-*` are configs SimpleTuner accepts: no errors.
 * `reject-*` are configs it refuses: exactly the expected diagnostics, each at its JSON location.
 */
const DIR = path.resolve(__dirname, '../../fixtures/simpletuner');

interface Expect { code: string; at: Array<string | number>; key?: boolean; severity?: 'error' | 'warning' }
interface Fixture { rule: string; training?: Record<string, unknown>; missingFolders?: string[]; expect: Expect[]; dataloader: Array<Record<string, unknown>> }

const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort()
  .map((f) => ({ name: f.replace(/\.json$/, ''), fx: JSON.parse(readFileSync(path.join(DIR, f), 'utf8')) as Fixture }));

/** Build the workspace: the dataloader, the training config if any, and every local folder/file it reads (unless it must be missing). */
async function workspace(root: string, fx: Fixture): Promise<{ entry: string; dataloader: string; text: string }> {
  const dataloader = path.join(root, 'config', 'multidatabackend.json');
  await fs.mkdir(path.dirname(dataloader), { recursive: true });
  const text = `${JSON.stringify(fx.dataloader, null, 2)}\n`;
  await fs.writeFile(dataloader, text);
  const missing = new Set(fx.missingFolders ?? []);
  for (const ds of fx.dataloader) {
    const fill = (v: unknown) => (typeof v === 'string' && !v.includes('{env:') ? v.replace(/\{id\}/g, String(ds.id)) : undefined);
    for (const key of ['instance_data_dir', 'instance_data_root']) {
      const dir = fill(ds[key]);
      if (!dir || missing.has(dir)) continue;
      await fs.mkdir(path.join(root, dir), { recursive: true });
      await fs.writeFile(path.join(root, dir, 'sample.png'), 'x');
    }
    for (const file of [fill(ds.csv_file), fill((ds.parquet as Record<string, unknown> | undefined)?.path)]) {
      if (!file || missing.has(file)) continue;
      await fs.mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await fs.writeFile(path.join(root, file), 'url,caption\n');
    }
  }
  if (!fx.training) return { entry: dataloader, dataloader, text };
  const training = path.join(root, 'config', 'config.json');
  await fs.writeFile(training, JSON.stringify({ ...fx.training, '--data_backend_config': 'config/multidatabackend.json' }, null, 2));
  return { entry: training, dataloader, text };
}

function expectedOffset(text: string, e: Expect): number {
  const node = findNodeAtLocation(parseTree(text)!, e.at);
  assert.ok(node, `fixture names a location that does not exist: ${JSON.stringify(e.at)}`);
  return e.key ? node.parent!.children![0]!.offset : node.offset;
}

describe('config: SimpleTuner shapes (test/fixtures/simpletuner)', () => {
  let root: string;
  beforeEach(async () => { root = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-st-fixture-')); });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });

  it('has fixtures for every dataset type, caption strategy and backend type SimpleTuner knows', () => {
    const all = fixtures.filter((f) => f.name.startsWith('accept-')).flatMap((f) => f.fx.dataloader);
    const values = (k: string) => new Set(all.map((d) => d[k]));
    for (const t of ['image', 'video', 'audio', 'conditioning', 'eval', 'caption', 'text_embeds', 'image_embeds', 'conditioning_image_embeds', 'distillation_cache', null]) assert.ok(values('dataset_type').has(t), `dataset_type ${t}`);
    for (const c of ['filename', 'textfile', 'parquet', 'instanceprompt', 'csv', 'huggingface', 'webshart', null]) assert.ok(values('caption_strategy').has(c), `caption_strategy ${c}`);
    for (const t of ['local', 'aws', 'csv', 'huggingface', 'memory', 'webshart']) assert.ok(values('type').has(t), `type ${t}`);
    const text = JSON.stringify(fixtures.filter((f) => f.name.startsWith('accept-')).map((f) => f.fx.dataloader));
    for (const v of TEMPLATE_VARIABLES) assert.ok(text.includes(v.replace('VAR}', '')), `template variable ${v}`);
    for (const k of ['"disabled":true', '"disable":true']) assert.ok(text.includes(k), `disabled entries (${k})`);
    for (const f of fixtures) assert.match(f.fx.rule, /\.py |Cloud Training/, `${f.name} names the SimpleTuner rule it exercises`);
  });

  for (const { name, fx } of fixtures) {
    it(`${name}: ${fx.expect.length ? fx.expect.map((e) => e.code).join(', ') : 'no errors'}`, async () => {
      const { entry, dataloader, text } = await workspace(root, fx);
      const results = await validateConfigFile(entry, root);
      const training = results.find((r) => r.file !== dataloader);
      assert.deepEqual(training?.diagnostics ?? [], [], 'the training config itself is fine');
      const got = results.find((r) => r.file === dataloader)!.diagnostics;
      const want = fx.expect.map((e) => ({ code: e.code, severity: e.severity ?? 'error', offset: expectedOffset(text, e) })).sort((a, b) => a.offset - b.offset || a.code.localeCompare(b.code));
      assert.deepEqual(got.map((d) => ({ code: d.code, severity: d.severity, offset: d.offset })).sort((a, b) => a.offset - b.offset || a.code.localeCompare(b.code)), want,
        got.map((d) => `${d.code}: ${d.message}`).join('\n'));
      if (name.startsWith('accept-')) assert.ok(!got.some((d) => d.severity === 'error'));
      else assert.ok(got.some((d) => d.severity === 'error'), 'a rejection is an error');
    });
  }
});
