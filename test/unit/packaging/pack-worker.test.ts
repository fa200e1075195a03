import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { buildPackage } from '../../../src/core/packaging';
import { PackWorker, packWorkerSource } from '../../../src/core/packaging/pack-worker';
import { scanDataset } from '../../../src/core/packaging/scan';
import { verifyZip } from '../../../src/core/packaging/verify';
import { writeZip, type ZipFileInput } from '../../../src/core/packaging/zip-writer';
import { makeWorkspace, tempDir, write } from './fixtures';
import { readZip } from './zip-read';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
// A tiny ring, so a handful of files wraps it many times, waits for room, and streams files in pieces.
const TINY_RING = { size: 64 * 1024, wholeMax: 16 * 1024, pieceMax: 8 * 1024, readMax: 3000, flushBytes: 10 * 1024, flushPieces: 3 };

describe('packaging: the packaging worker and its read ring', () => {
  let root: string;
  beforeEach(async () => { root = await tempDir(); });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });

  async function inputs(files: Record<string, Buffer>): Promise<ZipFileInput[]> {
    const out: ZipFileInput[] = [];
    for (const [name, data] of Object.entries(files)) {
      const absPath = await write(path.join(root, 'src', name), data);
      const st = await fs.stat(absPath);
      out.push({ archivePath: `d/${name}`, absPath, size: st.size, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  it('writes every kind of entry through a ring it wraps many times: empty, stored, deflated, larger than the ring, cached hashes', async () => {
    const files: Record<string, Buffer> = {
      'empty.jpg': Buffer.alloc(0),
      'one.bin': Buffer.from([7]),
      'small.txt': Buffer.from('x'.repeat(1023)), // stored: below the deflate threshold
      'caption.txt': Buffer.from('a photo of sks dog '.repeat(300)), // deflated, one piece
      'long.txt': Buffer.from(Array.from({ length: 12000 }, (_, i) => `line ${i}\n`).join('')), // deflated, > ring
      'whole.png': Buffer.alloc(16 * 1024, 3), // exactly one piece
      'split.png': Buffer.alloc(16 * 1024 + 1, 4), // streamed in pieces
      'huge.jpg': Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => (i * 31) & 0xff)), // > ring
    };
    // Enough small files that the written-entries bookkeeping around yazl kicks in.
    for (let i = 0; i < 700; i++) files[`many/${String(i).padStart(4, '0')}.jpg`] = Buffer.from(`image ${i} `.repeat(1 + (i % 50)));
    const list = await inputs(files);
    list[1]!.knownSha256 = sha(files['one.bin']!); // from the cache: not hashed again
    const out = path.join(root, 'out.zip');
    let progress = 0;
    const r = await writeZip(out, {
      head: [{ archivePath: 'head.json', data: Buffer.from('{"head":true}') }], files: list,
      tail: (shas) => [{ archivePath: 'tail.json', data: Buffer.from(JSON.stringify(shas)) }],
      ring: TINY_RING, onBytes: (n) => { progress = n; },
    });
    const expected = Object.values(files);
    assert.deepEqual(r.sha256s, expected.map((b) => sha(b)));
    assert.equal(progress, expected.reduce((n, b) => n + b.length, 0));
    assert.equal(r.zipBytes, (await fs.stat(out)).size);
    const zip = await readZip(out);
    assert.deepEqual([...zip.keys()], ['head.json', ...list.map((f) => f.archivePath), 'tail.json'], 'entries in order');
    for (const [name, data] of Object.entries(files)) assert.deepEqual(zip.get(`d/${name}`)!.data, data, name);
    assert.equal(zip.get('d/caption.txt')!.method, 8);
    assert.equal(zip.get('d/long.txt')!.method, 8);
    assert.equal(zip.get('d/huge.jpg')!.method, 0);
    await verifyZip(out, [
      { path: 'head.json', size: 13, sha256: sha('{"head":true}') }, { path: 'tail.json', size: zip.get('tail.json')!.size, sha256: sha(zip.get('tail.json')!.data) },
      ...list.map((f, i) => ({ path: f.archivePath, size: f.size, sha256: r.sha256s[i]! })),
    ], 'full');
    const t = spawnSync('unzip', ['-tq', out], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stdout + t.stderr);
  });

  it('names a file that changed size after the scan instead of writing a wrong entry', async () => {
    const list = await inputs({ 'a.jpg': Buffer.alloc(40_000, 1), 'b.jpg': Buffer.alloc(40_000, 2) });
    await assert.rejects(writeZip(path.join(root, 'grew.zip'), { head: [], files: [list[0]!, { ...list[1]!, size: 30_000 }], tail: () => [], ring: TINY_RING }),
      (e: Error & { code?: string }) => e.code === 'ECHANGED' && /b\.jpg changed while it was being packaged: it grew beyond the 30000 bytes/.test(e.message));
    await assert.rejects(writeZip(path.join(root, 'shrank.zip'), { head: [], files: [{ ...list[0]!, size: 50_000 }], tail: () => [], ring: TINY_RING }),
      /a\.jpg changed while it was being packaged: it now has 40000 bytes, 50000 when the dataset was scanned/);
    await assert.rejects(writeZip(path.join(root, 'gone.zip'), { head: [], files: [{ ...list[0]!, absPath: path.join(root, 'nope.jpg') }], tail: () => [], ring: TINY_RING }),
      (e: Error & { code?: string }) => e.code === 'ENOENT' && e.message.includes('nope.jpg'));
  });

  it('stops mid-write on cancel: AbortError, and the output file is closed before it returns', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 40; i++) files[`img${i}.jpg`] = Buffer.alloc(64 * 1024, i);
    const list = await inputs(files);
    const ac = new AbortController();
    const out = path.join(root, 'cancel.zip');
    let at = 0;
    await assert.rejects(writeZip(out, {
      head: [], files: list, tail: () => [], ring: TINY_RING, signal: ac.signal,
      onBytes: (n) => { at = n; if (n > 512 * 1024) ac.abort(); },
    }), { name: 'AbortError' });
    assert.ok(at > 512 * 1024 && at < 40 * 64 * 1024, `cancelled mid-way (${at} bytes)`);
    const size = (await fs.stat(out)).size;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await fs.stat(out)).size, size, 'nothing is written after writeZip returned');
  });

  it('lists folders like the thread-pool scan does (same files, stamps and exclusions)', async () => {
    await write(path.join(root, 'ds/b.jpg'), 'b');
    await write(path.join(root, 'ds/a/c.txt'), 'cc');
    await write(path.join(root, 'ds/a/deep/er/d.png'), 'ddd');
    await write(path.join(root, 'ds/.git/objects/x'), 'x');
    await write(path.join(root, 'ds/.env'), 'SECRET=1');
    await write(path.join(root, 'outside.txt'), 'o');
    await fs.symlink(path.join(root, 'outside.txt'), path.join(root, 'ds/link-out'));
    await fs.symlink('b.jpg', path.join(root, 'ds/link-in.jpg'));
    await fs.symlink(path.join(root, 'nowhere'), path.join(root, 'ds/broken'));
    const worker = new PackWorker();
    try {
      const viaWorker = await scanDataset(path.join(root, 'ds'), { extraExcludes: ['**/deep'], listDirs: (d, each) => worker.listDirs(d, each) });
      const viaPool = await scanDataset(path.join(root, 'ds'), { extraExcludes: ['**/deep'] });
      assert.deepEqual(viaWorker, viaPool);
      assert.deepEqual(viaWorker.files.map((f) => [f.relPath, f.size]), [['a/c.txt', 2], ['b.jpg', 1], ['link-in.jpg', 1]]);
      assert.deepEqual(viaWorker.excluded.map((e) => e.relPath), ['.env', '.git', 'a/deep', 'broken', 'link-out']);
      const got: unknown[] = [];
      await worker.listDirs([path.join(root, 'no-such-dir')], (i, l) => { got[i] = l; });
      assert.deepEqual(got, [{ error: 'ENOENT' }]);
    } finally {
      await worker.close();
    }
  });

  describe('when the worker thread fails', () => {
    const original = packWorkerSource.current;
    afterEach(() => { packWorkerSource.current = original; });

    it('a worker that cannot start fails the package with a clear error and leaves nothing behind', async () => {
      packWorkerSource.current = 'throw new Error("no threads for you")';
      const { dataloader } = await makeWorkspace(root);
      await assert.rejects(buildPackage({ dataloaderConfigPath: dataloader, outDir: path.join(root, 'out'), cacheDir: path.join(root, 'cache') }),
        /The packaging worker thread failed: no threads for you/);
      assert.deepEqual(await fs.readdir(path.join(root, 'out')).catch(() => []), []);
    });

    it('a worker that dies mid-write fails the package with its exit code and removes the partial zip', async () => {
      const hook = "parentPort.postMessage({ t: 'pieces', pieces, shas });";
      assert.ok(original.includes(hook));
      packWorkerSource.current = original.replace(hook, `${hook} if ((globalThis.sent = (globalThis.sent || 0) + 1) === 3) process.exit(7);`);
      const files: Record<string, Buffer> = {};
      for (let i = 0; i < 30; i++) files[`img${i}.jpg`] = Buffer.alloc(1024 * 1024, i);
      const { dataloader } = await makeWorkspace(root, { datasets: { big: files } });
      await assert.rejects(buildPackage({ dataloaderConfigPath: dataloader, outDir: path.join(root, 'out'), cacheDir: path.join(root, 'cache') }),
        /The packaging worker thread stopped unexpectedly \(exit code 7\)/);
      assert.deepEqual(await fs.readdir(path.join(root, 'out')), []);
    });

    it('a dataset file modified while packaging fails the package, naming the file, and leaves nothing behind', async () => {
      const files: Record<string, Buffer> = { 'a.jpg': Buffer.alloc(100_000, 1), 'z.jpg': Buffer.alloc(100_000, 2) };
      const { dataloader } = await makeWorkspace(root, { datasets: { set: files } });
      const z = path.join(root, 'datasets', 'set', 'z.jpg');
      await assert.rejects(buildPackage({
        dataloaderConfigPath: dataloader, outDir: path.join(root, 'out'), cacheDir: path.join(root, 'cache'),
        // Fires before the worker reads anything: z.jpg is bigger than the scan saw.
        onProgress: (p) => { if (p.stage === 'packaging') require('node:fs').appendFileSync(z, 'more'); },
      }), /z\.jpg changed while it was being packaged/);
      assert.deepEqual(await fs.readdir(path.join(root, 'out')), []);
    });
  });
});
