import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type yauzl from 'yauzl';
import type yazl from 'yazl';
import type { ArchiveFile, PackageIndex } from './data-route';
import { sha256File } from './upload';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadYauzl = (): typeof yauzl => require('yauzl'); // on first use, not at activation
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadYazl = (): typeof yazl => require('yazl');

const MAX_CAPTION_BYTES = 64 * 1024;
/** Fixed entry time: the same files give the same bytes, so an unchanged dataset is recognised (Files API reuse by sha256). */
const FIXED_MTIME = new Date(Date.UTC(2020, 0, 1));

/** Entry names and sizes of a package zip, plus the text of its small `.txt` files (captions). */
export function readPackageIndex(zipPath: string): Promise<PackageIndex> {
  const sizes = new Map<string, number>();
  const texts = new Map<string, string>();
  return new Promise((resolve, reject) => {
    loadYauzl().open(zipPath, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error(`cannot open ${zipPath}`));
      const fail = (e: Error) => { zip.close(); reject(e); };
      zip.on('error', fail);
      zip.on('end', () => resolve({ sizes, texts }));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        sizes.set(entry.fileName, entry.uncompressedSize);
        if (!entry.fileName.toLowerCase().endsWith('.txt') || entry.uncompressedSize > MAX_CAPTION_BYTES) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return fail(e ?? new Error(`cannot read ${entry.fileName}`));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', fail);
          stream.on('end', () => { texts.set(entry.fileName, Buffer.concat(chunks).toString('utf8')); zip.readEntry(); });
        });
      });
      zip.readEntry();
    });
  });
}

export interface RouteArchive { path: string; sha256: string; bytes: number; reused: boolean }

/**
 * The archive the trainer unpacks on the archive route: only the chosen images, under the names that
 * carry their captions, copied out of the (verified) package without re-reading the workspace. Stored
 * (images are already compressed), deterministic, content-addressed under `outDir`.
 */
export async function buildRouteArchive(packageZip: string, packageId: string, files: ArchiveFile[], outDir: string, signal?: AbortSignal): Promise<RouteArchive> {
  const key = createHash('sha256').update(packageId).update(JSON.stringify(files.map((f) => [f.from, f.to]))).digest('hex');
  const target = path.join(outDir, `${key}.zip`);
  await fs.mkdir(outDir, { recursive: true });
  const existing = await fs.stat(target).catch(() => undefined);
  if (existing) {
    const now = new Date();
    await fs.utimes(target, now, now).catch(() => undefined); // reused = recent: pruning keeps it
    await pruneRouteArchives(outDir, target);
    return { path: target, sha256: await sha256File(target, signal), bytes: existing.size, reused: true };
  }

  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  const wanted = new Map(files.map((f) => [f.from, f.to]));
  const out = new (loadYazl().ZipFile)();
  const hash = createHash('sha256');
  const sink = createWriteStream(tmp);
  let bytes = 0;
  const written = new Promise<void>((resolve, reject) => {
    out.outputStream.on('data', (c: Buffer) => { hash.update(c); bytes += c.length; });
    out.outputStream.on('error', reject);
    sink.on('error', reject);
    sink.on('finish', () => resolve());
  });
  out.outputStream.pipe(sink);
  try {
    await new Promise<void>((resolve, reject) => {
      loadYauzl().open(packageZip, { lazyEntries: true, autoClose: true }, (err, zip) => {
        if (err || !zip) return reject(err ?? new Error(`cannot open ${packageZip}`));
        const fail = (e: Error) => { zip.close(); reject(e); };
        zip.on('error', fail);
        zip.on('end', () => resolve());
        zip.on('entry', (entry: yauzl.Entry) => {
          const to = wanted.get(entry.fileName);
          if (!to) return zip.readEntry();
          if (signal?.aborted) return fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
          zip.openReadStream(entry, (e, stream) => {
            if (e || !stream) return fail(e ?? new Error(`cannot read ${entry.fileName}`));
            // One entry at a time: the next is opened when this one has been read into the new zip.
            (stream as Readable).on('end', () => zip.readEntry());
            (stream as Readable).on('error', fail);
            out.addReadStream(stream, to, { compress: false, mtime: FIXED_MTIME, size: entry.uncompressedSize });
          });
        });
        zip.readEntry();
      });
    });
    out.end();
    await written;
    await fs.rename(tmp, target);
  } catch (e) {
    sink.destroy();
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await pruneRouteArchives(outDir, target);
  return { path: target, sha256: hash.digest('hex'), bytes, reused: false };
}

/** How many route archives stay in the cache, and how long any archive is kept regardless (a submission between plan and upload). */
export const ROUTE_ARCHIVES_KEPT = 3;
export const ROUTE_ARCHIVE_MIN_AGE_MS = 60 * 60 * 1000;

/**
 * Route archives are only needed until Replicate has them (and to skip rebuilding an unchanged
 * dataset), so the cache keeps the `keep` most recent, plus any younger than `minAgeMs` (another
 * submission may be waiting for consent before uploading it) and `current`. Leftover `.tmp` files of
 * interrupted builds go once they are that old too. Best effort: a file in use elsewhere is skipped.
 */
export async function pruneRouteArchives(dir: string, current?: string, o: { keep?: number; minAgeMs?: number; now?: number } = {}): Promise<string[]> {
  const keep = o.keep ?? ROUTE_ARCHIVES_KEPT;
  const cutoff = (o.now ?? Date.now()) - (o.minAgeMs ?? ROUTE_ARCHIVE_MIN_AGE_MS);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const files = (await Promise.all(names.filter((n) => n.endsWith('.zip') || n.endsWith('.tmp')).map(async (n) => {
    const p = path.join(dir, n);
    const st = await fs.stat(p).catch(() => undefined);
    return st?.isFile() ? { p, tmp: n.endsWith('.tmp'), mtime: st.mtimeMs } : undefined;
  }))).filter((f): f is { p: string; tmp: boolean; mtime: number } => !!f);
  const zips = files.filter((f) => !f.tmp).sort((a, b) => b.mtime - a.mtime);
  const doomed = [
    ...zips.slice(keep).filter((f) => f.mtime < cutoff && f.p !== current),
    ...files.filter((f) => f.tmp && f.mtime < cutoff),
  ];
  const removed: string[] = [];
  for (const f of doomed) if (await fs.rm(f.p, { force: true }).then(() => true, () => false)) removed.push(f.p);
  return removed;
}

/** An empty zip (just the end-of-central-directory record): for a required `images` input when the data travels another way. */
export const EMPTY_ZIP = Buffer.from('504b0506000000000000000000000000000000000000', 'hex');
