import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { tarReadable } from '../../../src/providers/ssh/tar-stream';
import type { TarEntry } from '../../../src/providers/ssh/tar-header';

describe('ssh tar stream (worker thread)', function () {
  this.timeout(30_000);
  let tmp: string;
  beforeEach(async () => { tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-tar-')); });
  afterEach(async () => { await fs.rm(tmp, { recursive: true, force: true }); });

  async function entriesOf(files: Record<string, Buffer>): Promise<TarEntry[]> {
    const out: TarEntry[] = [];
    for (const [rel, data] of Object.entries(files)) {
      const abs = path.join(tmp, 'src', rel);
      await fs.mkdir(path.dirname(abs), { recursive: true });
      await fs.writeFile(abs, data);
      out.push({ relPath: rel, absPath: abs, size: data.length, mtimeMs: Date.now() });
    }
    return out;
  }

  it('GNU tar extracts exactly the files, and each sha256 is reported once', async () => {
    const files: Record<string, Buffer> = {
      'a.txt': Buffer.from('hello'),
      'empty.bin': Buffer.alloc(0),
      [`deep/${'long-name-'.repeat(15)}é.png`]: Buffer.alloc(700_000, 3),
      'exact.bin': Buffer.alloc(1024 * 1024, 9), // a whole chunk: boundary case
      'big.bin': Buffer.alloc(2 * 1024 * 1024 + 513, 5),
    };
    const entries = await entriesOf(files);
    const shas = new Map<string, string>();
    let bytes = 0;
    const dest = path.join(tmp, 'dest');
    await fs.mkdir(dest);
    const tar = spawn('tar', ['-x', '-f', '-', '-C', dest], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => tar.on('close', resolve));
    await pipeline(tarReadable(entries, (e, sha) => { assert.ok(!shas.has(e.relPath)); shas.set(e.relPath, sha); }, (n) => { bytes += n; }), tar.stdin);
    assert.equal(await exited, 0, stderr);
    for (const [rel, data] of Object.entries(files)) {
      assert.ok((await fs.readFile(path.join(dest, rel))).equals(data), rel);
      assert.equal(shas.get(rel), createHash('sha256').update(data).digest('hex'), rel);
    }
    assert.equal(bytes, Object.values(files).reduce((n, b) => n + b.length, 0));
  });

  it('fails naming the file when it shrinks while being sent', async () => {
    const entries = await entriesOf({ 'shrinks.bin': Buffer.alloc(3 * 1024 * 1024, 1) });
    await fs.truncate(entries[0]!.absPath, 1000); // the scan said 3 MiB
    const chunks: Buffer[] = [];
    await assert.rejects(
      pipeline(tarReadable(entries, () => {}, () => {}), async function* (src) { for await (const c of src) chunks.push(c as Buffer); }),
      /shrinks\.bin changed size while uploading/,
    );
  });

  it('stops the worker when cancelled mid-stream', async () => {
    const many: Record<string, Buffer> = {};
    for (let i = 0; i < 40; i++) many[`f${i}.bin`] = Buffer.alloc(1024 * 1024, i);
    const entries = await entriesOf(many);
    const ac = new AbortController();
    const r = tarReadable(entries, () => {}, () => {}, ac.signal);
    let got = 0;
    await assert.rejects((async () => {
      for await (const c of r) {
        got += (c as Buffer).length;
        if (got >= 3 * 1024 * 1024) ac.abort(new Error('user cancelled'));
      }
    })(), /user cancelled/);
    // Bounded read-ahead: cancelling after 3 MiB did not read the other 37 MiB into memory first.
    assert.ok(got < 12 * 1024 * 1024, `read ${got} bytes`);
    assert.ok(r.destroyed);
  });
});
