import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExtractOutput, extractCommand } from '../../../src/providers/ssh/host-extract';
import { tarHeader } from '../../../src/providers/ssh/tar-header';

// The host-side extractor runs here through `sh -c` exactly as ssh runs it on a host (this machine
// has python3 and GNU tar, as the test sshd's host does).
describe('ssh host extractor (python3 unpack + sha256)', function () {
  this.timeout(30_000);
  let tmp: string;
  beforeEach(async () => { tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-extract-')); });
  afterEach(async () => { await fs.rm(tmp, { recursive: true, force: true }); });

  function archive(files: Array<[string, Buffer, number?]>, opts: { end?: boolean } = {}): Buffer {
    const parts: Buffer[] = [];
    for (const [rel, data, mtimeMs] of files) {
      parts.push(tarHeader({ relPath: rel, absPath: '', size: data.length, mtimeMs: mtimeMs ?? 1_700_000_000_000 }), data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
    if (opts.end !== false) parts.push(Buffer.alloc(1024));
    return Buffer.concat(parts);
  }

  function run(dir: string, input: Buffer, extractor: 'auto' | 'tar' = 'auto', prefix = ''): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', `${prefix}${extractCommand(dir, extractor)}`], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => { stderr += d; });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
      child.stdin.on('error', () => {});
      child.stdin.end(input);
    });
  }

  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('writes every file (long, non-ASCII and empty names too) and reports the sha256 of each', async () => {
    const files: Array<[string, Buffer, number]> = [
      ['a.txt', Buffer.from('hello'), 1_600_000_000_000],
      ['empty.bin', Buffer.alloc(0), 1_600_000_000_000],
      [`deep/er/${'long-name-'.repeat(15)}é.png`, Buffer.alloc(700_000, 3), 1_650_000_000_000],
      ['exact.bin', Buffer.alloc(1024 * 1024, 9), 1_600_000_000_000], // one whole read buffer
      ['big.bin', Buffer.alloc(2 * 1024 * 1024 + 513, 5), 1_600_000_000_000],
    ];
    const dest = path.join(tmp, 'new', 'folder'); // created by the command
    const r = await run(dest, archive(files));
    assert.equal(r.code, 0, r.stderr);
    const output = new ExtractOutput(() => assert.fail('python mode reports hashes, not line counts'));
    // Fed a byte at a time across the mode line and records: the parser must not depend on chunking.
    for (let i = 0; i < r.stdout.length; i += 7) output.push(r.stdout.subarray(i, i + 7));
    assert.equal(output.mode, 'python');
    assert.deepEqual(new Map([...output.hashes].sort()), new Map(files.map(([rel, data]) => [rel, sha(data)] as [string, string]).sort()));
    for (const [rel, data, mtimeMs] of files) {
      const abs = path.join(dest, rel);
      assert.ok((await fs.readFile(abs)).equals(data), rel);
      assert.equal(Math.floor((await fs.stat(abs)).mtimeMs / 1000), mtimeMs / 1000, `${rel} keeps its mtime`);
    }
    const names = (await fs.readdir(dest, { recursive: true })).map(String);
    assert.ok(!names.some((n) => n.includes('ct-partial')), names.join());
  });

  it('a cut-off stream fails with a clear message and leaves no partial file', async () => {
    const dest = path.join(tmp, 'cut');
    const full = archive([['whole.txt', Buffer.from('complete')], ['half.bin', Buffer.alloc(300_000, 1)]], { end: false });
    const r = await run(dest, full.subarray(0, full.length - 100_000));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ct-extract: the stream ended in the middle of a file/);
    assert.equal(await fs.readFile(path.join(dest, 'whole.txt'), 'utf8'), 'complete');
    assert.deepEqual((await fs.readdir(dest)).sort(), ['whole.txt']);
  });

  it('an existing file is replaced, and a symlink at the path is replaced rather than written through', async () => {
    const dest = path.join(tmp, 'replace');
    await fs.mkdir(dest);
    const outside = path.join(tmp, 'outside.txt');
    await fs.writeFile(outside, 'must not change');
    await fs.symlink(outside, path.join(dest, 'link.txt'));
    await fs.writeFile(path.join(dest, 'old.txt'), 'old content that is longer');
    const r = await run(dest, archive([['link.txt', Buffer.from('new')], ['old.txt', Buffer.from('new')]]));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await fs.readFile(outside, 'utf8'), 'must not change');
    assert.ok(!(await fs.lstat(path.join(dest, 'link.txt'))).isSymbolicLink());
    assert.equal(await fs.readFile(path.join(dest, 'old.txt'), 'utf8'), 'new');
  });

  it('a write that fails (here: over the file size limit, like a full disk) names the file and leaves no partial file', async () => {
    const dest = path.join(tmp, 'full');
    // ulimit -f counts 512-byte blocks: 100 KB may be written, the 300 KB file may not.
    const r = await run(dest, archive([['small.txt', Buffer.from('fits')], ['images/big.bin', Buffer.alloc(300_000, 2)]]), 'auto', 'ulimit -f 200; ');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ct-extract: images\/big\.bin: File too large$/m);
    assert.equal(await fs.readFile(path.join(dest, 'small.txt'), 'utf8'), 'fits');
    assert.deepEqual(await fs.readdir(path.join(dest, 'images')), []);
  });

  it('two extractions into one folder at once (two windows) each land whole files', async () => {
    const dest = path.join(tmp, 'twice');
    const files: Array<[string, Buffer]> = Array.from({ length: 30 }, (_, i) => [`d${i % 3}/f${i}.bin`, Buffer.alloc(200_000 + i, i)]);
    // Fed in lockstep, 64 KiB to one, then to the other, so both are inside the same file at once.
    const input = archive(files);
    const kids = [0, 1].map(() => spawn('sh', ['-c', extractCommand(dest)], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const results = kids.map((k) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      let stderr = '';
      k.stdout.resume();
      k.stdin.on('error', () => {}); // a process that failed stops reading: its exit code says so
      k.stderr.on('data', (d: Buffer) => { stderr += d; });
      k.on('close', (code) => resolve({ code, stderr }));
    }));
    for (let at = 0; at < input.length; at += 65536) {
      for (const k of kids) {
        if (!k.stdin.write(input.subarray(at, at + 65536))) await new Promise((r) => k.stdin.once('drain', r));
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    for (const k of kids) k.stdin.end();
    const [a, b] = (await Promise.all(results)) as [{ code: number | null; stderr: string }, { code: number | null; stderr: string }];
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    for (const [rel, data] of files) assert.ok((await fs.readFile(path.join(dest, rel))).equals(data), rel);
    const names = (await fs.readdir(dest, { recursive: true })).map(String);
    assert.ok(!names.some((n) => n.includes('ct-partial')), names.join());
  });

  it('refuses a path that climbs out of the folder', async () => {
    const dest = path.join(tmp, 'safe');
    const r = await run(dest, archive([['ok.txt', Buffer.from('x')], ['../escape.txt', Buffer.from('y')]]));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing the unsafe path/);
    await assert.rejects(fs.access(path.join(tmp, 'escape.txt')));
  });

  it('a file where a folder is needed fails naming the path', async () => {
    const dest = path.join(tmp, 'clash');
    await fs.mkdir(dest);
    await fs.writeFile(path.join(dest, 'images'), 'a file, not a folder');
    const r = await run(dest, archive([['images/a.png', Buffer.from('png')]]));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ct-extract: .*images.*File exists|ct-extract: .*images.*Not a directory/);
  });

  it('tar mode: `tar -x -v` unpacks and the line count says how many members are complete', async () => {
    const dest = path.join(tmp, 'tar');
    const files: Array<[string, Buffer]> = [['one', Buffer.from('1')], ['two/2', Buffer.from('22')], ['three', Buffer.alloc(5000, 3)]];
    const r = await run(dest, archive(files), 'tar');
    assert.equal(r.code, 0, r.stderr);
    const seen: number[] = [];
    const output = new ExtractOutput((n) => seen.push(n));
    for (let i = 0; i < r.stdout.length; i += 3) output.push(r.stdout.subarray(i, i + 3));
    assert.equal(output.mode, 'tar');
    assert.equal(output.hashes.size, 0);
    // Three lines: after the last one only two members are known complete (the caller adds the rest at exit).
    assert.equal(Math.max(...seen), 2);
    for (const [rel, data] of files) assert.ok((await fs.readFile(path.join(dest, rel))).equals(data));
  });

  it('skips lines a login shell printed before the mode line; output that never names a mode is an error', () => {
    const output = new ExtractOutput(() => {});
    output.push(Buffer.from('Welcome to the cluster!\nct-extr'));
    assert.equal(output.mode, undefined);
    output.push(Buffer.from(`act 1\n${'a'.repeat(64)}  x.png\0`));
    assert.equal(output.mode, 'python');
    assert.equal(output.hashes.get('x.png'), 'a'.repeat(64));
    const noisy = new ExtractOutput(() => {});
    assert.throws(() => { for (let i = 0; i < 2000; i++) noisy.push(Buffer.from(`motd line ${i} ${'-'.repeat(40)}\n`)); }, /Unexpected output from the extractor/);
  });
});
