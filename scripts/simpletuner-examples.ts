/**
 * SimpleTuner's own dataloader configs (shipped examples, config/*.example, its test fixtures and the JSON
 * blocks of its English documentation), read from a local git mirror of SimpleTuner, and run through our
 * validator in a temp workspace where every relative local folder they name exists. A check we did not
 * shape ourselves: SimpleTuner ships these as working configs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DEFAULT_MIRROR = process.env.SIMPLETUNER_MIRROR ?? '/work/.mirror/bghira+SimpleTuner/repo';

export interface Example {
  /** Where it comes from: a file path in the repository, or `<doc>.md#<n>` for a documentation block. */
  source: string;
  text: string;
  /** Options of a shipped training config that names this dataloader, if one does. */
  training?: Record<string, unknown>;
  /** SimpleTuner's own fixtures of configs it must refuse (tests/fixtures/**\/error_*.json). */
  expectRejected: boolean;
}

/**
 * Shipped files SimpleTuner itself refuses, with the check that refuses them; they are reported, not counted as accepted.
 * (A template listing alternatives such as "square|preserve", and a documentation block whose "image-embeds"
 * entry has no dataset_type, so it is a local image dataset without instance_data_dir.)
 */
export const REFUSED_BY_SIMPLETUNER: Record<string, string> = {
  'config/multidatabackend.json.example': 'factory.py init_backend_config: crop_aspect "square|preserve" is not one of its choices (the file lists alternatives)',
  'documentation/DATALOADER.md#4': 'factory.py _configure_backend_by_type: "image-embeds" is a local image dataset without instance_data_dir',
};

export const mirrorAvailable = (mirror = DEFAULT_MIRROR): boolean => existsSync(mirror);

const git = (mirror: string, ...args: string[]) => execFileSync('git', ['-C', mirror, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });

function isDataloader(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0 && v.every((x) => x && typeof x === 'object' && !Array.isArray(x)) && v.some((x) => 'id' in x && ('type' in x || 'dataset_type' in x));
}

const TRANSLATION = /\.(es|hi|ja|ko|pt-BR|zh|fr|de|ru|it)\.md$/;

export function collectExamples(mirror = DEFAULT_MIRROR, rev = 'HEAD'): Example[] {
  const files = git(mirror, 'ls-tree', '-r', '--name-only', rev).split('\n').filter(Boolean);
  const show = (f: string) => git(mirror, 'show', `${rev}:${f}`);
  const out: Example[] = [];
  // Training configs that name a dataloader, by the dataloader's file name.
  const trainingByDataloader = new Map<string, Record<string, unknown>>();
  for (const f of files.filter((f) => /^simpletuner\/examples\/.*config\.json$/.test(f))) {
    try {
      const cfg = JSON.parse(show(f)) as Record<string, unknown>;
      const values = Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k.replace(/^-+/, ''), v]));
      if (typeof values.data_backend_config === 'string') trainingByDataloader.set(path.posix.basename(values.data_backend_config), values);
    } catch { /* not JSON: not ours to judge here */ }
  }
  for (const f of files.filter((f) => /^(config|simpletuner\/examples|tests)\/.*\.json(\.example)?$/.test(f))) {
    const text = show(f);
    let v: unknown;
    try { v = JSON.parse(text); } catch { continue; }
    if (!isDataloader(v)) continue;
    out.push({ source: f, text, training: trainingByDataloader.get(path.posix.basename(f)), expectRejected: /\/error_[^/]*\.json$/.test(f) || f in REFUSED_BY_SIMPLETUNER });
  }
  for (const f of files.filter((f) => f.startsWith('documentation/') && f.endsWith('.md') && !TRANSLATION.test(f))) {
    let n = 0;
    for (const m of show(f).matchAll(/```(?:json)?[ \t]*\n([\s\S]*?)```/g)) {
      let v: unknown;
      try { v = JSON.parse(m[1]!); } catch { continue; }
      if (!isDataloader(v)) continue;
      const source = `${f}#${++n}`;
      out.push({ source, text: m[1]!, expectRejected: source in REFUSED_BY_SIMPLETUNER });
    }
  }
  return out;
}

export interface ExampleResult {
  source: string;
  expectRejected: boolean;
  errors: Array<{ code: string; message: string }>;
  /** Set when the config validated cleanly but packaging it failed. */
  packageError?: string;
}

/** Package the workspace's dataloader config (given: our buildPackage), to check that a clean config also packages. */
export type Packer = (dataloaderPath: string, workspaceRoot: string) => Promise<unknown>;

/** The validator module to run (ours by default; another checkout's src/core/config for a before/after count). */
type ConfigModule = {
  parseDataloaderConfig(text: string, file: string, opts?: { training?: Record<string, unknown> }): { datasets: Array<{ disabled: boolean; paths: Array<{ field: string; value: string; expanded?: string; resolvable?: boolean }> }>; diagnostics: Array<{ severity: string; code: string; message: string }> };
  checkDatasetPaths(parsed: unknown, root?: string): Promise<Array<{ severity: string; code: string; message: string }>>;
};

export async function validateExample(ex: Example, mod: ConfigModule, pack?: Packer): Promise<ExampleResult> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-st-example-'));
  try {
    const file = path.join(root, 'config', 'multidatabackend.json');
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, ex.text);
    const parsed = mod.parseDataloaderConfig(ex.text, file, { training: ex.training });
    // The datasets' own folders are not in SimpleTuner's repository: make each relative local one, with a file.
    for (const ds of parsed.datasets) {
      for (const p of ds.paths) {
        const rel = p.expanded ?? p.value;
        if (p.resolvable === false || path.isAbsolute(rel) || rel.startsWith('~') || !['instance_data_dir', 'instance_data_root'].includes(p.field)) continue;
        const dir = path.resolve(root, rel);
        if (!dir.startsWith(root)) continue;
        await fs.mkdir(dir, { recursive: true });
        await fs.writeFile(path.join(dir, 'sample.png'), 'x');
      }
    }
    const disk = (await mod.checkDatasetPaths(parsed, root)).filter((d) => !(d.code === 'missing-path' && /points to \//.test(d.message) && !d.message.includes(root)));
    const errors = [...parsed.diagnostics, ...disk].filter((d) => d.severity === 'error').map(({ code, message }) => ({ code, message }));
    let packageError: string | undefined;
    if (pack && !errors.length) {
      try { await pack(await withLocalAbsolutePaths(ex.text, root), root); } catch (e) { packageError = (e as Error).message; }
    }
    return { source: ex.source, expectRejected: ex.expectRejected, errors, ...(packageError ? { packageError } : {}) };
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

/**
 * For packaging: the same config with each absolute local path (/data/512, /tmp/images, …, which only exist on
 * their author's machine) moved under the temp workspace, where it is created with a file in it.
 */
async function withLocalAbsolutePaths(text: string, root: string): Promise<string> {
  const list = JSON.parse(text) as Array<Record<string, unknown>>;
  const move = async (p: unknown, kind: 'dir' | 'file'): Promise<unknown> => {
    if (typeof p !== 'string' || !path.isAbsolute(p) || p.includes('{')) return p;
    const moved = path.join(root, 'abs', p);
    if (kind === 'dir') { await fs.mkdir(moved, { recursive: true }); await fs.writeFile(path.join(moved, 'sample.png'), 'x'); }
    else { await fs.mkdir(path.dirname(moved), { recursive: true }); await fs.writeFile(moved, 'x'); }
    return moved;
  };
  for (const ds of list) {
    if (ds.type !== 'local' && ds.type !== 'csv') continue;
    for (const k of ['instance_data_dir', 'instance_data_root']) if (k in ds) ds[k] = await move(ds[k], 'dir');
    if ('csv_file' in ds) ds.csv_file = await move(ds.csv_file, 'file');
    const pq = ds.parquet as Record<string, unknown> | undefined;
    if (pq && typeof pq === 'object' && 'path' in pq) pq.path = await move(pq.path, 'file');
  }
  const file = path.join(root, 'config', 'multidatabackend-local.json');
  await fs.writeFile(file, JSON.stringify(list, null, 2));
  return file;
}
