import type yauzl from 'yauzl';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadYauzl = (): typeof yauzl => require('yauzl'); // on first use, not at activation

/** Entries the packager writes into every package (see src/core/packaging/result.ts). */
export const PACKAGE_DATALOADER_ENTRY = 'multidatabackend.json';
export const PACKAGE_TRAINING_CONFIG_ENTRY = 'config/config.json';
export const PACKAGE_MANIFEST_ENTRY = 'manifest.json';

const MAX_ENTRY_BYTES = 16 * 1024 * 1024;

/**
 * Read a few small text entries from a package zip (central directory + those entries only). Used when
 * the caller did not pass the configs: the package holds the rewritten dataloader and the training
 * config with credentials removed — exactly what the trainer must receive.
 */
export function readPackageEntries(zipPath: string, names: readonly string[]): Promise<Map<string, string>> {
  const wanted = new Set(names);
  const found = new Map<string, string>();
  return new Promise((resolve, reject) => {
    loadYauzl().open(zipPath, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error(`cannot open ${zipPath}`));
      const fail = (e: Error) => { zip.close(); reject(e); };
      zip.on('error', fail);
      zip.on('end', () => resolve(found));
      zip.on('entry', (entry: yauzl.Entry) => {
        // The packager writes its configs at the archive root; dataset files live under their own folders.
        const name = wanted.has(entry.fileName) ? entry.fileName : undefined;
        if (!name || found.has(name)) return zip.readEntry();
        if (entry.uncompressedSize > MAX_ENTRY_BYTES) return fail(new Error(`${entry.fileName} in the package is too large to be a config`));
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return fail(e ?? new Error(`cannot read ${entry.fileName}`));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', fail);
          stream.on('end', () => {
            found.set(name, Buffer.concat(chunks).toString('utf8'));
            if (found.size === wanted.size) { zip.close(); resolve(found); } else zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}
