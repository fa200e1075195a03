import yauzl from 'yauzl';

export interface ZipEntryInfo { name: string; method: number; size: number; data: Buffer }

/** Every entry of a zip with its bytes (test helper: small zips only). */
export function readZip(zipPath: string): Promise<Map<string, ZipEntryInfo>> {
  return new Promise((resolve, reject) => {
    const out = new Map<string, ZipEntryInfo>();
    yauzl.open(zipPath, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      zip.on('error', reject);
      zip.on('end', () => resolve(out));
      zip.on('entry', (e: yauzl.Entry) => {
        zip.openReadStream(e, (err2, s) => {
          if (err2 || !s) return reject(err2);
          const chunks: Buffer[] = [];
          s.on('data', (c: Buffer) => chunks.push(c));
          s.on('end', () => { out.set(e.fileName, { name: e.fileName, method: e.compressionMethod, size: e.uncompressedSize, data: Buffer.concat(chunks) }); zip.readEntry(); });
          s.on('error', reject);
        });
      });
      zip.readEntry();
    });
  });
}
