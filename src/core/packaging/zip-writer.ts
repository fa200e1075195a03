import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import { abortError, throwIfAborted } from './abort';
import { installFastCrc32 } from './fast-crc32';
import { READ_CHUNK } from './hash-cache';
import { shouldStore } from './media';
import { HashWorker } from './hash-worker';
import { BufferPool, PooledFileReader, PooledFileWriter } from './pooled-io';

export interface ZipFileInput {
  archivePath: string;
  absPath: string;
  size: number;
  mtimeMs: number;
  /** From the hash cache; when absent the sha256 is computed from the bytes as they are zipped. */
  knownSha256?: string;
}

export interface ZipBuffer { archivePath: string; data: Buffer }

export interface WriteZipOptions {
  /** Small entries written first (configs). */
  head: ZipBuffer[];
  files: ZipFileInput[];
  /** Entries written last, built once every file's sha256 is known (manifest.json). */
  tail: (sha256s: string[]) => ZipBuffer[];
  signal?: AbortSignal;
  onBytes?: (bytesDone: number) => void;
  /** Hash on a worker thread when at least this many stored bytes need hashing (default 64 MiB; 0 = always). */
  workerThresholdBytes?: number;
}

// Entries carry a fixed timestamp for configs so their bytes only change when their content does.
const FIXED_MTIME = new Date('2020-01-01T00:00:00Z');

/**
 * Stream a zip to `outPath` with yazl: one file open at a time, backpressure from the output file,
 * so memory stays flat whatever the dataset size. Each file is read once: its sha256 (when not cached)
 * and CRC are computed from the same chunks that are written. Media already compressed is stored.
 */
export async function writeZip(outPath: string, opts: WriteZipOptions): Promise<{ sha256s: string[]; zipBytes: number }> {
  installFastCrc32();
  throwIfAborted(opts.signal);
  const zip = new ZipFile();
  // Eight 1 MiB buffers in flight: reads overlap writes (both on the libuv pool), memory stays ~8 MiB.
  const toHash = opts.files.reduce((n, f) => n + (f.knownSha256 || !shouldStore(f.archivePath, f.size) ? 0 : f.size), 0);
  const useWorker = toHash > 0 && toHash >= (opts.workerThresholdBytes ?? 64 * 1024 * 1024);
  const pool = new BufferPool(READ_CHUNK, 8, useWorker);
  const hasher = useWorker ? new HashWorker((slot) => pool.release(slot)) : undefined;
  const out = new PooledFileWriter(outPath, pool);
  const active = new Set<Readable>();
  let bytesDone = 0;

  let fail!: (e: unknown) => void;
  const failed = new Promise<never>((_, reject) => { fail = reject; });
  failed.catch(() => undefined);
  const onAbort = () => fail(abortError(opts.signal));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  zip.on('error', (e) => fail(e));
  out.on('error', (e) => fail(e));
  zip.outputStream.on('error', (e) => fail(e));
  const closed = new Promise<void>((resolve) => out.on('close', resolve));
  zip.outputStream.pipe(out);

  try {
    for (const b of opts.head) zip.addBuffer(b.data, b.archivePath, { compress: !shouldStore(b.archivePath, b.data.length), mtime: FIXED_MTIME });
    const shas = opts.files.map((f) => new Promise<string>((resolve, reject) => {
      zip.addReadStreamLazy(f.archivePath, { size: f.size, compress: !shouldStore(f.archivePath, f.size), mtime: new Date(f.mtimeMs) }, (cb) => {
        if (opts.signal?.aborted) return reject(abortError(opts.signal));
        const stored = shouldStore(f.archivePath, f.size);
        // Stored entries reach the writer as the very chunks read, so they can use pool buffers;
        // deflated ones are consumed by zlib, which would never give a pool buffer back.
        const s: Readable = stored ? new PooledFileReader(f.absPath, pool) : createReadStream(f.absPath, { highWaterMark: 64 * 1024 });
        active.add(s);
        // Stored files hash on the worker (when there is one) from the shared pool buffers; small
        // deflated files hash here.
        const remote = !f.knownSha256 && stored && hasher ? hasher.begin() : undefined;
        const local = f.knownSha256 || remote ? undefined : createHash('sha256');
        s.on('data', (c: Buffer) => {
          if (remote) { pool.retain(c); remote.update(c, pool.slotOf(c)!); }
          local?.update(c);
          opts.onBytes?.((bytesDone += c.length));
        });
        s.on('error', (e) => { active.delete(s); reject(e); });
        s.on('end', () => {
          active.delete(s);
          if (remote) remote.end().then(resolve, reject);
          else resolve(local ? local.digest('hex') : f.knownSha256!);
        });
        cb(null, s);
      });
    }));
    const sha256s = await Promise.race([Promise.all(shas), failed]);
    for (const b of opts.tail(sha256s)) zip.addBuffer(b.data, b.archivePath, { compress: !shouldStore(b.archivePath, b.data.length), mtime: FIXED_MTIME });
    zip.end();
    await Promise.race([closed, failed]);
    return { sha256s, zipBytes: out.bytesWritten };
  } catch (e) {
    for (const s of active) s.destroy();
    zip.outputStream.unpipe(out);
    out.destroy();
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await hasher?.close();
  }
}
