import { promises as fs } from 'node:fs';
import path from 'node:path';
import { exclusionRules } from './rules';
import { mapLimit, throwIfAborted } from './abort';

export interface ScannedFile { relPath: string; absPath: string; size: number; mtimeMs: number }
export interface ExcludedEntry { relPath: string; reason: string }
export interface ScanResult { files: ScannedFile[]; excluded: ExcludedEntry[] }

export type EntryKind = 'file' | 'dir' | 'symlink' | 'other';
/** A folder's entries; regular files come with their size and mtime (or the stat error code). */
export interface DirListing {
  names: string[];
  kinds: EntryKind[];
  size: number[];
  mtimeMs: number[];
  /** Per entry: the stat error code of a file that could not be stat'ed, else null. */
  statErrors: Array<string | null>;
}
/**
 * Lists many folders at once, handing each one's listing (or its error code) to `each` as soon as it
 * is ready, in any order; resolves once all were handed over.
 */
export type ListDirs = (absDirs: string[], each: (index: number, listing: DirListing | { error: string }) => void) => Promise<void>;

export interface ScanOptions {
  extraExcludes?: string[];
  signal?: AbortSignal;
  /**
   * How folders are listed (and their files stat'ed), a whole level of the tree per call: e.g. the
   * packaging worker with synchronous calls (two round trips for a typical dataset instead of one per
   * folder and file). Default: fs.readdir and fs.stat on the thread pool.
   */
  listDirs?: ListDirs;
}

const FS_CONCURRENCY = 64;

/**
 * Every file under `root` that may leave the machine, sorted by relative path ('/'-separated), and every
 * entry left out with its reason. Secrets (see rules.ts) and the user's globs are skipped without
 * descending into them; symlinks are followed only when their target stays inside the dataset.
 * Shared by packaging and the SSH sync, so both apply exactly the same rules.
 */
export async function scanDataset(root: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const rules = exclusionRules(opts.extraExcludes);
  const listDirs: ListDirs = opts.listDirs ?? ((dirs, each) => listDirsAsync(dirs, each, opts.signal));
  const realRoot = await fs.realpath(root);
  const files: ScannedFile[] = [];
  const excluded: ExcludedEntry[] = [];
  const symlinks: Array<{ relPath: string; absPath: string }> = [];

  // Breadth first: one listDirs call per level of the tree; each folder is sorted out as it arrives.
  let level = [''];
  while (level.length) {
    throwIfAborted(opts.signal);
    const absDirs = level.map((relDir) => path.join(root, relDir));
    const next: string[] = [];
    const levelDirs = level;
    await listDirs(absDirs, (d, listing) => {
      const relDir = levelDirs[d]!;
      if ('error' in listing) {
        excluded.push({ relPath: relDir || '.', reason: `unreadable folder: ${listing.error}` });
        return;
      }
      const absDir = absDirs[d]!;
      const prefix = absDir.endsWith(path.sep) ? absDir : absDir + path.sep;
      listing.names.forEach((name, k) => {
        const relPath = relDir ? `${relDir}/${name}` : name;
        const reason = rules.reason(relPath);
        if (reason) { excluded.push({ relPath, reason }); return; }
        const kind = listing.kinds[k];
        if (kind === 'dir') next.push(relPath);
        else if (kind === 'file') {
          const err = listing.statErrors[k];
          if (err) excluded.push({ relPath, reason: `unreadable: ${err}` });
          else files.push({ relPath, absPath: prefix + name, size: listing.size[k]!, mtimeMs: listing.mtimeMs[k]! });
        } else if (kind === 'symlink') symlinks.push({ relPath, absPath: prefix + name });
        else excluded.push({ relPath, reason: 'not a regular file (socket, FIFO or device)' });
      });
    });
    throwIfAborted(opts.signal);
    level = next;
  }

  // Symlinks (rare) one by one: kept only when they resolve to a file inside the dataset.
  await mapLimit(symlinks, FS_CONCURRENCY, async (l) => {
    const verdict = await checkSymlink(l.absPath, realRoot);
    if (!verdict.ok) return void excluded.push({ relPath: l.relPath, reason: verdict.reason });
    try {
      const st = await fs.stat(l.absPath);
      files.push({ ...l, size: st.size, mtimeMs: st.mtimeMs });
    } catch (e) {
      excluded.push({ relPath: l.relPath, reason: `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    }
  }, opts.signal);

  files.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  excluded.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  return { files, excluded };
}

/** The default ListDirs: fs.readdir per folder, then fs.stat per regular file, on the thread pool. */
async function listDirsAsync(absDirs: string[], each: (index: number, listing: DirListing | { error: string }) => void, signal?: AbortSignal): Promise<void> {
  await mapLimit(absDirs, FS_CONCURRENCY, async (dir, d) => {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      return each(d, { error: (e as NodeJS.ErrnoException).code ?? (e as Error).message });
    }
    const l: DirListing = {
      names: entries.map((e) => e.name),
      kinds: entries.map((e) => (e.isDirectory() ? 'dir' : e.isFile() ? 'file' : e.isSymbolicLink() ? 'symlink' : 'other')),
      size: entries.map(() => 0), mtimeMs: entries.map(() => 0), statErrors: entries.map(() => null),
    };
    const toStat = l.kinds.flatMap((kind, k) => (kind === 'file' ? [k] : []));
    await mapLimit(toStat, FS_CONCURRENCY, async (k) => {
      try {
        const st = await fs.stat(path.join(dir, l.names[k]!));
        l.size[k] = st.size;
        l.mtimeMs[k] = st.mtimeMs;
      } catch (e) {
        l.statErrors[k] = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      }
    }, signal);
    each(d, l);
  }, signal);
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
