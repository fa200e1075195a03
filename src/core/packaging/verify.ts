import { createHash } from 'node:crypto';
import yauzl from 'yauzl';
import { throwIfAborted } from './abort';
import { shouldStore } from './media';

export interface ExpectedEntry { path: string; size: number; sha256: string }

export type VerifyMode = 'full' | 'structure';

/**
 * Read the written zip back with yauzl and compare it with what we meant to write.
 * `structure` (default): every entry of the central directory present exactly once with the expected
 * size and method, and the small entries (configs, manifest) re-read and hashed; cheap, catches
 * truncated or mis-assembled archives. `full`: every entry's bytes re-read and hashed too.
 */
export async function verifyZip(zipPath: string, expected: ExpectedEntry[], mode: VerifyMode = 'structure', signal?: AbortSignal): Promise<void> {
  const want = new Map(expected.map((e) => [e.path, e]));
  const seen = new Set<string>();
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(zipPath, { lazyEntries: true, validateEntrySizes: true, decodeStrings: true }, (err, z) => (err || !z ? reject(err ?? new Error('no zip')) : resolve(z))));
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', resolve);
      zip.on('entry', (entry: yauzl.Entry) => {
        (async () => {
          throwIfAborted(signal);
          const name = entry.fileName;
          const exp = want.get(name);
          if (!exp) throw new Error(`unexpected entry in package: ${name}`);
          if (seen.has(name)) throw new Error(`entry twice in package: ${name}`);
          seen.add(name);
          if (entry.uncompressedSize !== exp.size) throw new Error(`${name}: ${entry.uncompressedSize} bytes in the zip, expected ${exp.size}`);
          const method = shouldStore(name, exp.size) ? 0 : 8;
          if (entry.compressionMethod !== method && exp.size > 0) throw new Error(`${name}: compression method ${entry.compressionMethod}, expected ${method}`);
          if (mode === 'full' || exp.size <= 1024 * 1024 && !shouldStore(name, exp.size)) {
            const sha = await hashEntry(zip, entry);
            if (sha !== exp.sha256) throw new Error(`${name}: content differs from the source (sha256 ${sha} != ${exp.sha256})`);
          }
        })().then(() => zip.readEntry(), reject);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  const missing = expected.filter((e) => !seen.has(e.path));
  if (missing.length) throw new Error(`${missing.length} entries missing from the package, e.g. ${missing[0]!.path}`);
}

function hashEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<string> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) return reject(err ?? new Error('no stream'));
      const h = createHash('sha256');
      stream.on('data', (c: Buffer) => h.update(c));
      stream.on('error', reject);
      stream.on('end', () => resolve(h.digest('hex')));
    });
  });
}
