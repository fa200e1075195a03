import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exclusionRules } from '../packaging/rules';
import { throwIfAborted } from '../packaging/abort';
import type { ParsedDataloader, ParsedDataset, PathRef } from './dataloader';
import { resolveConfigPath } from './paths';

export interface FolderStats { files: number; bytes: number; excluded: number; computedAt: number }
export interface DatasetStats { id: string; index: number; root?: string; files: number; bytes: number; excluded: number; missing?: boolean; local: boolean }

const BATCH = 256;

/**
 * Count the files and bytes of a folder as packaging would take them (same exclusion rules), without
 * holding the listing in memory: 100,000 files are stat'ed 256 at a time, yielding to the event loop
 * between batches, and the walk stops as soon as `signal` fires.
 */
export async function countFolder(root: string, opts: { extraExcludes?: string[]; signal?: AbortSignal } = {}): Promise<FolderStats> {
  const rules = exclusionRules(opts.extraExcludes);
  const out: FolderStats = { files: 0, bytes: 0, excluded: 0, computedAt: Date.now() };
  let batch: string[] = [];
  const flush = async () => {
    throwIfAborted(opts.signal);
    const stats = await Promise.all(batch.map((p) => fs.stat(p).catch(() => undefined)));
    for (const st of stats) if (st?.isFile()) { out.files++; out.bytes += st.size; }
    batch = [];
    await new Promise((r) => setImmediate(r));
  };
  const walk = async (dir: string, rel: string): Promise<void> => {
    throwIfAborted(opts.signal);
    const handle = await fs.opendir(dir, { bufferSize: 128 }).catch(() => undefined);
    if (!handle) return;
    const subdirs: Array<[string, string]> = [];
    for await (const e of handle) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (rules.reason(r)) { out.excluded++; continue; }
      if (e.isDirectory()) subdirs.push([path.join(dir, e.name), r]);
      else if (e.isFile() || e.isSymbolicLink()) {
        batch.push(path.join(dir, e.name));
        if (batch.length >= BATCH) await flush();
      }
    }
    for (const [d, r] of subdirs) await walk(d, r);
  };
  await walk(root, '');
  await flush();
  return out;
}

/**
 * Results of countFolder remembered per folder until something under it changes (the editor's file
 * watcher calls `invalidate`), so CodeLens refreshes cost nothing while the dataset is unchanged.
 */
export class StatsCache {
  private readonly entries = new Map<string, Promise<FolderStats>>();
  constructor(private readonly opts: { extraExcludes?: () => string[] } = {}) {}

  get(root: string, signal?: AbortSignal): Promise<FolderStats> {
    const key = path.resolve(root);
    let p = this.entries.get(key);
    if (!p) {
      p = countFolder(key, { extraExcludes: this.opts.extraExcludes?.(), signal });
      this.entries.set(key, p);
      // A cancelled or failed count must not stay cached.
      p.catch(() => { if (this.entries.get(key) === p) this.entries.delete(key); });
    }
    return p;
  }

  peek(root: string): Promise<FolderStats> | undefined { return this.entries.get(path.resolve(root)); }

  /** Forget every folder containing `changed` (or all, without an argument); returns true if any was dropped. */
  invalidate(changed?: string): boolean {
    if (!changed) { const had = this.entries.size > 0; this.entries.clear(); return had; }
    const abs = path.resolve(changed);
    let dropped = false;
    for (const key of [...this.entries.keys()]) {
      if (abs === key || abs.startsWith(key + path.sep) || key.startsWith(abs + path.sep)) { this.entries.delete(key); dropped = true; }
    }
    return dropped;
  }

  roots(): string[] { return [...this.entries.keys()]; }
}

/** Per-dataset counts for a parsed dataloader config; non-local datasets report zero and `local: false`. */
export async function datasetLocalStats(parsed: ParsedDataloader, opts: { cache?: StatsCache; extraExcludes?: string[]; signal?: AbortSignal; workspaceRoot?: string } = {}): Promise<DatasetStats[]> {
  const out: DatasetStats[] = [];
  for (const ds of parsed.datasets) {
    const base = { id: ds.id ?? `#${ds.index + 1}`, index: ds.index, files: 0, bytes: 0, excluded: 0 };
    const dir = dataFolderOf(ds);
    if (ds.type !== 'local' || !dir || ds.disabled || !dir.resolvable) { out.push({ ...base, local: ds.type === 'local' && !ds.disabled && !!dir }); continue; }
    const root = await resolveConfigPath(dir.expanded, parsed.filePath, opts.workspaceRoot);
    try {
      const st = await fs.stat(root);
      if (!st.isDirectory()) throw new Error('not a folder');
    } catch {
      out.push({ ...base, root, local: true, missing: true });
      continue;
    }
    const s = opts.cache ? await opts.cache.get(root, opts.signal) : await countFolder(root, { extraExcludes: opts.extraExcludes, signal: opts.signal });
    out.push({ ...base, root, local: true, files: s.files, bytes: s.bytes, excluded: s.excluded });
  }
  return out;
}

/** The folder a dataset's files are in: instance_data_dir, else its older name instance_data_root (as SimpleTuner reads them). */
export const dataFolderOf = (ds: ParsedDataset): PathRef | undefined =>
  ds.paths.find((p) => p.field === 'instance_data_dir') ?? ds.paths.find((p) => p.field === 'instance_data_root');
