import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { globToRegExp } from '../../../src/core/packaging/globs';
import { HashCache, sha256File } from '../../../src/core/packaging/hash-cache';
import { secretReason } from '../../../src/core/packaging/rules';
import { scanDataset } from '../../../src/core/packaging/scan';
import { tempDir, write } from './fixtures';

describe('packaging: exclusion rules, scan and hash cache', () => {
  let root: string;
  beforeEach(async () => { root = await tempDir(); });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });

  it('matches globs the way users write them', () => {
    const m = (g: string, p: string) => globToRegExp(g).test(p);
    assert.ok(m('*.psd', 'a/b/c.psd'));
    assert.ok(!m('*.psd', 'a/b/c.psd.jpg'));
    assert.ok(m('drafts/', 'drafts'));
    assert.ok(m('drafts/', 'drafts/x.jpg'));
    assert.ok(!m('drafts/', 'sub/drafts/x.jpg'), 'a pattern with a slash is anchored at the dataset root');
    assert.ok(m('**/drafts', 'sub/drafts'));
    assert.ok(m('raw/**/*.cr2', 'raw/2024/x.CR2'));
    assert.ok(m('*.{psd,xcf}', 'x.xcf'));
    assert.ok(m('img_?.jpg', 'img_1.jpg') && !m('img_?.jpg', 'img_10.jpg'));
    assert.ok(m('[ab].txt', 'a.txt') && !m('[ab].txt', 'c.txt'));
  });

  it('names the secret rule for every listed kind and nothing for ordinary files', () => {
    for (const p of ['.env', '.env.prod', 'x/.git/HEAD', '.ssh/config', 'a/.aws/credentials', '.netrc', 'k.pem', 'k.key', 'id_rsa', 'id_ed25519.pub', 'credentials.csv', 'hf.token', '.gnupg/x', 'c.p12']) {
      assert.match(secretReason(p) ?? '', /^secret: /, p);
    }
    for (const p of ['img.jpg', 'keys/photo.png', 'environment.txt', 'my-credentials-photo.jpg', 'token.jpg', 'tokens/a.png']) assert.equal(secretReason(p), undefined, p);
  });

  it('scans sorted, skips secret folders without descending, refuses escaping and broken symlinks', async () => {
    await write(path.join(root, 'ds/b.jpg'), 'b');
    await write(path.join(root, 'ds/a/c.txt'), 'c');
    await write(path.join(root, 'ds/.git/objects/x'), 'x');
    await write(path.join(root, 'outside.txt'), 'o');
    await fs.symlink(path.join(root, 'outside.txt'), path.join(root, 'ds/link-out'));
    await fs.symlink(path.join(root, 'nowhere'), path.join(root, 'ds/broken'));
    const r = await scanDataset(path.join(root, 'ds'));
    assert.deepEqual(r.files.map((f) => [f.relPath, f.size]), [['a/c.txt', 1], ['b.jpg', 1]]);
    assert.deepEqual(r.excluded.map((e) => e.relPath), ['.git', 'broken', 'link-out']);
    assert.match(r.excluded[1]!.reason, /broken symlink/);
    assert.match(r.excluded[2]!.reason, /outside the dataset/);
    await assert.rejects(scanDataset(path.join(root, 'ds'), { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });

  it('remembers hashes by (path, size, mtime), persists them, and merges concurrent writers', async () => {
    const f = await write(path.join(root, 'f.bin'), Buffer.alloc(3 * 1024 * 1024 + 5, 7));
    const st = await fs.stat(f);
    const stamp = { absPath: f, size: st.size, mtimeMs: st.mtimeMs };
    const cacheDir = path.join(root, 'cache');
    const a = await HashCache.open(cacheDir);
    const b = await HashCache.open(cacheDir);
    const sha = await a.hash(stamp);
    assert.equal(sha, await sha256File(f));
    b.set({ absPath: '/other', size: 1, mtimeMs: 1 }, 'a'.repeat(64));
    await a.save();
    await b.save();
    const c = await HashCache.open(cacheDir);
    assert.equal(c.get(stamp), sha, 'a\'s entry survived b\'s save');
    assert.equal(c.get({ absPath: '/other', size: 1, mtimeMs: 1 }), 'a'.repeat(64));
    assert.equal(c.get({ ...stamp, mtimeMs: stamp.mtimeMs + 1 }), undefined);
    assert.equal(c.get({ ...stamp, size: stamp.size + 1 }), undefined);
    await fs.writeFile(path.join(cacheDir, 'hash-cache-v1.json'), '{corrupt');
    assert.equal((await HashCache.open(cacheDir)).size, 0, 'a corrupt cache is an empty cache, not a failure');
  });
});
