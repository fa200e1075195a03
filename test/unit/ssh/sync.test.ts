import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { SshConnection } from '../../../src/providers/ssh/connection';
import { syncDirectory } from '../../../src/providers/ssh/sync';

describe('ssh incremental sync (real sshd)', function () {
  this.timeout(60_000);
  let sshd: SshdFixture;
  let conn: SshConnection;
  let tmp: string;
  before(async () => {
    sshd = await startSshd();
    conn = await SshConnection.connect({
      label: 'test', host: sshd.host, port: sshd.port, user: sshd.user,
      identityFiles: [sshd.userKeyPath], agent: false, knownHostsFiles: [sshd.knownHostsPath],
    });
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-sync-'));
  });
  after(async () => {
    conn?.dispose();
    await sshd?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  // tar + python3 on the host (the default), tar + `tar -x` and a separate hashing pass (hosts
  // without python3), and SFTP.
  const variants = [['tar', true, 'auto'], ['tar', false, 'auto'], ['tar', true, 'tar'], ['sftp', false, 'auto']] as const;
  for (const [transport, openSsh, extractor] of variants) it(`[${transport}${transport === 'tar' ? `${openSsh ? ' via system ssh' : ' via ssh2'}, ${extractor === 'tar' ? 'tar -x' : 'python3 extractor'}` : ''}] sends everything once, then exactly the one changed file; deletes removed files; verifies on the host`, async () => {
    const local = path.join(tmp, `dataset-${transport}-${openSsh}-${extractor}`);
    await fs.mkdir(path.join(local, 'images', 'sub'), { recursive: true });
    const expected = new Map<string, Buffer>();
    for (let i = 0; i < 40; i++) {
      const rel = i % 3 === 0 ? `images/sub/img ${i} ünïcode-${'x'.repeat(i === 3 ? 120 : 1)}.txt` : `images/img-${i}.txt`;
      const data = Buffer.from(`caption ${i} `.repeat(100 + i * 50));
      expected.set(rel, data);
      await fs.writeFile(path.join(local, rel), data);
    }
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7); // crosses many SFTP write chunks
    expected.set('big.bin', big);
    await fs.writeFile(path.join(local, 'big.bin'), big);
    expected.set('empty.txt', Buffer.alloc(0));
    await fs.writeFile(path.join(local, 'empty.txt'), '');
    await fs.writeFile(path.join(local, '.env'), 'HF_TOKEN=secret'); // secret: must never be sent
    const remoteDir = path.join(sshd.remoteDir, 'ws', 'datasets', `${transport}-${openSsh}-${extractor}`);
    const cacheDir = path.join(tmp, 'cache');
    const reports: Array<number | undefined> = [];

    const first = await syncDirectory(conn, local, remoteDir, { cacheDir, report: (_m, f) => reports.push(f), transport, openSsh, extractor, streams: 2 });
    assert.equal(first.uploaded.length, 42);
    assert.equal(first.verified, 42);
    assert.equal(first.unchanged, 0);
    assert.ok(first.excluded.some((e) => e.relPath === '.env'));
    assert.ok(reports.includes(1));
    for (const [rel, data] of expected) {
      assert.ok((await fs.readFile(path.join(remoteDir, rel))).equals(data), rel);
    }
    await assert.rejects(fs.access(path.join(remoteDir, '.env')));
    const manifest = JSON.parse(await fs.readFile(`${remoteDir}.ct-manifest.json`, 'utf8'));
    assert.equal(manifest.files['big.bin'].sha256, createHash('sha256').update(big).digest('hex'));

    const again = await syncDirectory(conn, local, remoteDir, { cacheDir, transport, openSsh, extractor });
    assert.deepEqual(again.uploaded, []);
    assert.equal(again.bytesSent, 0);
    assert.equal(again.unchanged, 42);

    // Change one file (same size, different content) and delete another.
    await fs.writeFile(path.join(local, 'images/img-1.txt'), Buffer.from(expected.get('images/img-1.txt')!.toString().replace('caption', 'CAPTION')));
    await fs.rm(path.join(local, 'images/img-2.txt'));
    const third = await syncDirectory(conn, local, remoteDir, { cacheDir, transport, openSsh, extractor });
    assert.deepEqual(third.uploaded, ['images/img-1.txt']);
    assert.deepEqual(third.deleted, ['images/img-2.txt']);
    assert.match(await fs.readFile(path.join(remoteDir, 'images/img-1.txt'), 'utf8'), /^CAPTION 1/);
    await assert.rejects(fs.access(path.join(remoteDir, 'images/img-2.txt')));

    // Something tampering on the host (file truncated) is noticed through the remote listing and repaired.
    await fs.truncate(path.join(remoteDir, 'big.bin'), 10);
    // Files that appeared on the host: a stray one is removed, the trainer's bucket cache is kept.
    await fs.writeFile(path.join(remoteDir, 'images', 'stray.txt'), 'x');
    await fs.writeFile(path.join(remoteDir, 'images', 'aspect_ratio_bucket_indices_cats.json'), '{}');
    const fourth = await syncDirectory(conn, local, remoteDir, { cacheDir, transport, openSsh, extractor });
    assert.deepEqual(fourth.uploaded, ['big.bin']);
    assert.deepEqual(fourth.deleted, ['images/stray.txt']);
    assert.equal(await fs.readFile(path.join(remoteDir, 'images', 'aspect_ratio_bucket_indices_cats.json'), 'utf8'), '{}');
    assert.ok((await fs.readFile(path.join(remoteDir, 'big.bin'))).equals(big));
    // No partial files left behind.
    const all = await fs.readdir(remoteDir, { recursive: true });
    assert.ok(!all.some((n) => String(n).includes('ct-partial')));
  });

  it('leaves the temp files of a sync running elsewhere alone, and removes old leftovers', async () => {
    const local = path.join(tmp, 'partials');
    await fs.mkdir(local);
    await fs.writeFile(path.join(local, 'a.txt'), 'a');
    const remoteDir = path.join(sshd.remoteDir, 'partials');
    const cacheDir = path.join(tmp, 'cache');
    await syncDirectory(conn, local, remoteDir, { cacheDir });
    // Another window is writing b.txt right now; a sync cut off yesterday left c.txt's temp file.
    await fs.writeFile(path.join(remoteDir, '.b.txt.ct-partial-4242'), 'half');
    await fs.writeFile(path.join(remoteDir, '.c.txt.ct-partial-17'), 'old');
    const yesterday = new Date(Date.now() - 86_400_000);
    await fs.utimes(path.join(remoteDir, '.c.txt.ct-partial-17'), yesterday, yesterday);
    const r = await syncDirectory(conn, local, remoteDir, { cacheDir });
    assert.deepEqual(r.deleted, ['.c.txt.ct-partial-17']);
    assert.equal(await fs.readFile(path.join(remoteDir, '.b.txt.ct-partial-4242'), 'utf8'), 'half');
  });

  it('removes the folders a deletion empties, and no other empty folder', async () => {
    const local = path.join(tmp, 'folders');
    await fs.mkdir(path.join(local, 'keep'), { recursive: true });
    await fs.mkdir(path.join(local, 'gone', 'deep'), { recursive: true });
    await fs.writeFile(path.join(local, 'keep', 'a.txt'), 'a');
    await fs.writeFile(path.join(local, 'gone', 'deep', 'b.txt'), 'b');
    const remoteDir = path.join(sshd.remoteDir, 'folders');
    const cacheDir = path.join(tmp, 'cache');
    await syncDirectory(conn, local, remoteDir, { cacheDir });
    await fs.rm(path.join(local, 'gone'), { recursive: true });
    // Another window's sync has just made this folder and is about to fill it.
    await fs.mkdir(path.join(remoteDir, 'incoming'));
    const r = await syncDirectory(conn, local, remoteDir, { cacheDir });
    assert.deepEqual(r.deleted, ['gone/deep/b.txt']);
    assert.deepEqual((await fs.readdir(remoteDir)).sort(), ['incoming', 'keep']);
  });

  it('stops when aborted', async () => {
    const local = path.join(tmp, 'abort');
    await fs.mkdir(local);
    for (let i = 0; i < 20; i++) await fs.writeFile(path.join(local, `f${i}`), Buffer.alloc(512 * 1024, i));
    const ac = new AbortController();
    ac.abort(new Error('user cancelled'));
    await assert.rejects(syncDirectory(conn, local, path.join(sshd.remoteDir, 'abort'), { cacheDir: path.join(tmp, 'cache'), signal: ac.signal }));
  });
});
