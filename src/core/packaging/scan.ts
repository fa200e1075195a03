import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import { exclusionRules } from './rules';
import { mapLimit, throwIfAborted } from './abort';

export interface ScannedFile { relPath: string; absPath: string; size: number; mtimeMs: number }
export interface ExcludedEntry { relPath: string; reason: string }
export interface ScanResult { files: ScannedFile[]; excluded: ExcludedEntry[] }
export interface ScanOptions { extraExcludes?: string[]; signal?: AbortSignal }

const STAT_CONCURRENCY = 64;

/**
 * Every file under `root` that may leave the machine, sorted by relative path ('/'-separated), and every
 * entry left out with its reason. Secrets (see rules.ts) and the user's globs are skipped without
 * descending into them; symlinks are followed only when their target stays inside the dataset.
 * Shared by packaging and the SSH sync, so both apply exactly the same rules.
 */
export async function scanDataset(root: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const rules = exclusionRules(opts.extraExcludes);
  const realRoot = await fs.realpath(root);
  const files: ScannedFile[] = [];
  const excluded: ExcludedEntry[] = [];
  const pendingStats: Array<{ relPath: string; absPath: string }> = [];

  const walk = async (relDir: string): Promise<void> => {
    throwIfAborted(opts.signal);
    const absDir = relDir ? path.join(root, relDir) : root;
    let entries: Dirent[];
    try {
      entries = await fs.readdir(absDir, { withFileTypes: true });
    } catch (e) {
      excluded.push({ relPath: relDir || '.', reason: `unreadable folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return;
    }
    const subdirs: string[] = [];
    for (const d of entries) {
      const relPath = relDir ? `${relDir}/${d.name}` : d.name;
      const reason = rules.reason(relPath);
      if (reason) { excluded.push({ relPath, reason }); continue; }
      const absPath = path.join(absDir, d.name);
      if (d.isDirectory()) subdirs.push(relPath);
      else if (d.isFile()) pendingStats.push({ relPath, absPath });
      else if (d.isSymbolicLink()) {
        const verdict = await checkSymlink(absPath, realRoot);
        if (verdict.ok) pendingStats.push({ relPath, absPath });
        else excluded.push({ relPath, reason: verdict.reason });
      } else excluded.push({ relPath, reason: 'not a regular file (socket, FIFO or device)' });
    }
    for (const s of subdirs) await walk(s);
  };
  await walk('');

  const stats = await mapLimit(pendingStats, STAT_CONCURRENCY, async (f) => {
    try {
      const st = await fs.stat(f.absPath);
      return { ...f, size: st.size, mtimeMs: st.mtimeMs };
    } catch (e) {
      excluded.push({ relPath: f.relPath, reason: `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return undefined;
    }
  }, opts.signal);
  for (const s of stats) if (s) files.push(s);
  files.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  excluded.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  return { files, excluded };
}

type SymlinkVerdict = { ok: true } | { ok: false; reason: string };

/** A symlink is kept only if it resolves to a regular file inside the dataset's real root. */
async function checkSymlink(absPath: string, realRoot: string): Promise<SymlinkVerdict> {
  let target: string;
  try {
    target = await fs.realpath(absPath);
  } catch {
    return { ok: false, reason: 'broken symlink' };
  }
  const rel = path.relative(realRoot, target);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return { ok: false, reason: `symlink points outside the dataset (${target})` };
  const st = await fs.stat(target);
  // A linked folder inside the dataset is already packaged under its real path; following it could loop.
  if (!st.isFile()) return { ok: false, reason: 'symlink to a folder inside the dataset (already included at its real path)' };
  return { ok: true };
}
