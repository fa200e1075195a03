import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type yauzl from 'yauzl';

// yauzl loads on first use, not at activation.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadYauzl = (): typeof yauzl => require('yauzl');

/**
 * The package's files under `prefix/` (those `wanted` accepts, by path relative to the prefix), written
 * below `dir`. A path that would leave `dir` is refused: the zip is ours, but it is read back from disk.
 */
export function extractFromPackage(zipPath: string, prefix: string, dir: string, wanted: (rel: string) => boolean = () => true): Promise<void> {
  return new Promise((resolve, reject) => {
    loadYauzl().open(zipPath, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error(`cannot open ${zipPath}`));
      const fail = (e: Error) => { zip.close(); reject(e); };
      zip.on('error', fail);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        if (!entry.fileName.startsWith(`${prefix}/`) || entry.fileName.endsWith('/')) return zip.readEntry();
        const raw = entry.fileName.slice(prefix.length + 1);
        if (!wanted(raw)) return zip.readEntry();
        const rel = path.posix.normalize(raw);
        if (rel.startsWith('../') || path.posix.isAbsolute(rel)) return fail(new Error(`unsafe path in package: ${entry.fileName}`));
        const target = path.join(dir, ...rel.split('/'));
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return fail(e ?? new Error(`cannot read ${entry.fileName}`));
          fs.mkdir(path.dirname(target), { recursive: true })
            .then(() => pipeline(stream, createWriteStream(target)))
            .then(() => zip.readEntry(), fail);
        });
      });
      zip.readEntry();
    });
  });
}
