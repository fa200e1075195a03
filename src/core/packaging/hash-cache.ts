import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../fs/atomic';
import { withFileLock } from '../fs/lock';
import { abortError, mapLimit, throwIfAborted } from './abort';

const CACHE_FILE = 'hash-cache-v1.json';
/**
 * `{version: 1, entries: {[absPath]: [size, mtimeMs, sha256]}}`: compact, because 100k entries are
 * normal. Checked by validEntries (below).
 */

export const READ_CHUNK = 1024 * 1024;

export interface FileStamp { absPath: string; size: number; mtimeMs: number }

/**
 * sha256 of files, remembered by (path, size, mtime) under `cacheDir`, so an unchanged file is
 * recognised without reading its bytes. Shared by packaging and the SSH sync; concurrent writers
 * (two windows, the CLI) merge under a file lock instead of overwriting each other.
 */
export class HashCache {
  private entries = new Map<string, [number, number, string]>();
  private dirty = new Map<string, [number, number, string]>();

  private constructor(private readonly file: string) {}

  static async open(cacheDir: string): Promise<HashCache> {
    const cache = new HashCache(path.join(cacheDir, CACHE_FILE));
    cache.entries = await readEntries(cache.file);
    return cache;
  }

  get size(): number { return this.entries.size; }

  get(f: FileStamp): string | undefined {
    const e = this.entries.get(f.absPath);
    return e && e[0] === f.size && e[1] === f.mtimeMs ? e[2] : undefined;
  }

  set(f: FileStamp, sha256: string): void {
    const e: [number, number, string] = [f.size, f.mtimeMs, sha256];
    this.entries.set(f.absPath, e);
    this.dirty.set(f.absPath, e);
  }

  /** Hash `f` unless the cache knows it. */
  async hash(f: FileStamp, signal?: AbortSignal): Promise<string> {
    const known = this.get(f);
    if (known) return known;
    const sha = await sha256File(f.absPath, signal);
    this.set(f, sha);
    return sha;
  }

  /** Hash many files (two reads in flight keep one core hashing while the other waits on the disk). */
  async hashAll(files: readonly FileStamp[], opts: { signal?: AbortSignal; onFile?: (done: number, bytes: number) => void } = {}): Promise<string[]> {
    let done = 0, bytes = 0;
    return mapLimit(files, 2, async (f) => {
      const sha = await this.hash(f, opts.signal);
      opts.onFile?.(++done, (bytes += f.size));
      return sha;
    }, opts.signal);
  }

  /** Write new entries, merged with whatever another process saved meanwhile. */
  async save(): Promise<void> {
    if (!this.dirty.size) return;
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    await withFileLock(`${this.file}.lock`, async () => {
      const onDisk = await readEntries(this.file);
      for (const [k, v] of this.dirty) onDisk.set(k, v);
      await writeFileAtomic(this.file, JSON.stringify({ version: 1, entries: Object.fromEntries(onDisk) }));
      this.entries = onDisk;
    });
    this.dirty.clear();
  }
}

async function readEntries(file: string): Promise<Map<string, [number, number, string]>> {
  try {
    // A corrupt or foreign cache is only a cache: start empty rather than fail the package.
    return validEntries(JSON.parse(await fs.readFile(file, 'utf8'))) ?? new Map();
  } catch {
    return new Map();
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The cache file's shape, checked by hand (a zod schema took ~4 µs per entry, most of an unchanged
 * re-package). Any malformed entry rejects the whole file.
 */
function validEntries(data: unknown): Map<string, [number, number, string]> | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const { version, entries } = data as { version?: unknown; entries?: unknown };
  if (version !== 1 || typeof entries !== 'object' || entries === null || Array.isArray(entries)) return undefined;
  const out = new Map<string, [number, number, string]>();
  for (const [k, e] of Object.entries(entries)) {
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'number' || typeof e[1] !== 'number' || typeof e[2] !== 'string' || !SHA256_HEX.test(e[2])) return undefined;
    if (!Number.isFinite(e[0]) || !Number.isFinite(e[1])) return undefined;
    out.set(k, e as [number, number, string]);
  }
  return out;
}

/** Streamed sha256 of a file (constant memory). */
export function sha256File(absPath: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    throwIfAborted(signal);
    const h = createHash('sha256');
    const s = createReadStream(absPath, { highWaterMark: READ_CHUNK });
    const onAbort = () => s.destroy(abortError(signal));
    signal?.addEventListener('abort', onAbort, { once: true });
    s.on('data', (c) => h.update(c));
    s.on('error', (e) => { signal?.removeEventListener('abort', onAbort); reject(e); });
    s.on('end', () => { signal?.removeEventListener('abort', onAbort); resolve(h.digest('hex')); });
  });
}
