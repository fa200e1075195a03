import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { buildPackage, PackageResultSchema, PackagingError, type PackageProgress } from '../../../src/core/packaging';
import { PACKAGE_DATALOADER } from '../../../src/core/packaging/result';
import { verifyZip } from '../../../src/core/packaging/verify';
import { makeWorkspace, tempDir, write } from './fixtures';
import { readZip } from './zip-read';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('packaging: buildPackage', () => {
  let root: string;
  beforeEach(async () => { root = await tempDir(); });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });
  const build = (dataloader: string, extra: Partial<Parameters<typeof buildPackage>[0]> = {}) =>
    buildPackage({ dataloaderConfigPath: dataloader, outDir: path.join(root, 'out'), cacheDir: path.join(root, 'cache-dir'), verify: 'full', ...extra });

  it('never packages planted secrets of any listed kind, and lists each exclusion with its reason', async () => {
    const secrets = ['.env', '.env.local', '.git/config', '.git/objects/ab/cdef', '.ssh/id_rsa', '.aws/credentials', '.netrc', 'server.pem', 'tls.key',
      'id_rsa', 'id_rsa.pub', 'id_ed25519', 'credentials.json', 'credentials', 'hf.token', 'sub/deeper/.env.production', 'sub/.ssh/known_hosts', 'sub/.aws/config'];
    const files: Record<string, string | Buffer> = { 'ok.jpg': Buffer.alloc(100, 7), 'ok.txt': 'caption', 'my.secret.notes.jpg.bak': 'kept: not a secret pattern', 'private/extra.bin': 'user-excluded' };
    for (const s of secrets) files[s] = `SECRET-${s}`;
    const { dataloader } = await makeWorkspace(root, { datasets: { portraits: files } });
    const r = await build(dataloader, { extraExcludes: ['private/', '*.bak'] });
    const zip = await readZip(r.zipPath);
    for (const [name, e] of zip) {
      assert.ok(!e.data.toString('latin1').includes('SECRET-'), `secret content reached the zip in ${name}`);
    }
    const names = [...zip.keys()];
    for (const bad of ['.env', 'id_rsa', '.pem', '.key', 'credentials', '.token', '.netrc', '.git/', '.ssh/', '.aws/', 'private/', '.bak']) {
      assert.ok(!names.some((n) => n.includes(bad)), `${bad} in ${names.join(', ')}`);
    }
    assert.deepEqual(names.filter((n) => n.startsWith('datasets/')).sort(), ['datasets/portraits/ok.jpg', 'datasets/portraits/ok.txt']);
    const reasons = new Map(r.excluded.map((e) => [e.relPath, e.reason]));
    for (const top of ['.env', '.env.local', '.git', '.ssh', '.aws', '.netrc', 'server.pem', 'tls.key', 'id_rsa', 'id_rsa.pub', 'id_ed25519', 'credentials.json', 'credentials', 'hf.token', 'sub/deeper/.env.production', 'sub/.ssh', 'sub/.aws']) {
      assert.match(reasons.get(top) ?? '', /^secret: /, `no secret reason for ${top}`);
    }
    assert.match(reasons.get('private') ?? '', /excluded by setting: private\//);
    assert.match(reasons.get('my.secret.notes.jpg.bak') ?? '', /excluded by setting: \*\.bak/);
    // The manifest is the audit trail: it lists exactly the packaged files.
    const manifest = JSON.parse(zip.get('manifest.json')!.data.toString()) as { files: Array<{ path: string; sha256: string }> };
    assert.ok(!manifest.files.some((f) => /SECRET|\.env|id_rsa/.test(f.path)));
  });

  it('refuses a symlink that escapes the dataset but keeps one that stays inside', async () => {
    const outside = await write(path.join(root, 'outside', 'passwords.txt'), 'SECRET-outside');
    const { dataloader } = await makeWorkspace(root, { datasets: { set: { 'a.jpg': Buffer.alloc(10, 1), 'a.txt': 'cap' } } });
    const ds = path.join(root, 'datasets', 'set');
    await fs.symlink(outside, path.join(ds, 'escape.txt'));
    await fs.symlink(path.join(root, 'outside'), path.join(ds, 'escape-dir'));
    await fs.symlink('a.txt', path.join(ds, 'alias.txt'));
    const r = await build(dataloader);
    const zip = await readZip(r.zipPath);
    assert.ok(!zip.has('datasets/set/escape.txt'));
    assert.ok(![...zip.keys()].some((k) => k.includes('escape-dir')));
    assert.equal(zip.get('datasets/set/alias.txt')!.data.toString(), 'cap');
    const reasons = new Map(r.excluded.map((e) => [e.relPath, e.reason]));
    assert.match(reasons.get('escape.txt')!, /symlink points outside the dataset/);
    assert.match(reasons.get('escape-dir')!, /symlink points outside the dataset/);
  });

  it('round-trips non-ASCII and space-containing names (also through Info-ZIP unzip)', async () => {
    const names = ['photo 01.jpg', 'photo 01.txt', 'café/crème brûlée.png', '日本語 フォルダ/画像.jpg', 'emoji 🐱.txt'];
    const files = Object.fromEntries(names.map((n, i) => [n, Buffer.from(`content-${i}-${n}`)]));
    const { dataloader } = await makeWorkspace(root, { datasets: { 'my set': files } });
    const r = await build(dataloader);
    const zip = await readZip(r.zipPath);
    const prefix = r.datasets[0]!.archivePrefix;
    assert.equal(prefix, 'datasets/my_set');
    for (const n of names) assert.deepEqual(zip.get(`${prefix}/${n}`)?.data, files[n], n);
    const t = spawnSync('unzip', ['-tq', r.zipPath], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    const x = path.join(root, 'x');
    assert.equal(spawnSync('unzip', ['-q', r.zipPath, '-d', x]).status, 0);
    assert.deepEqual(await fs.readFile(path.join(x, prefix, '日本語 フォルダ/画像.jpg')), files['日本語 フォルダ/画像.jpg']);
  });

  it('gives clear errors for an empty dataset and for a missing folder', async () => {
    const { dataloader } = await makeWorkspace(root, { datasets: { empty: {} } });
    await fs.mkdir(path.join(root, 'datasets', 'empty'), { recursive: true });
    await assert.rejects(build(dataloader), (e: PackagingError) => {
      assert.ok(e instanceof PackagingError);
      assert.match(e.message, /empty/i);
      assert.equal(e.diagnostics[0]!.code, 'empty-dataset');
      return true;
    });
    // Only secrets in it: empty as far as packaging goes, and the message says why.
    await write(path.join(root, 'datasets', 'empty', '.env'), 'A=1');
    await assert.rejects(build(dataloader), /nothing to package.*only holds excluded files \(\.env: secret/);

    await fs.rm(path.join(root, 'datasets', 'empty'), { recursive: true });
    await assert.rejects(build(dataloader), (e: PackagingError) => {
      assert.equal(e.diagnostics[0]!.code, 'missing-path');
      assert.match(e.diagnostics[0]!.message, /does not exist/);
      const text = require('node:fs').readFileSync(dataloader, 'utf8') as string;
      assert.equal(text.slice(e.diagnostics[0]!.offset, e.diagnostics[0]!.offset + e.diagnostics[0]!.length), '"datasets/empty"');
      return true;
    });
  });

  it('never packages a literal credential of the dataloader: the packaged copy holds an {env:…} reference and the exclusion says so', async () => {
    const remote = (secret: string) => ({ id: 'bucket', type: 'aws', aws_bucket_name: 'b', aws_region_name: 'us-east-1', aws_endpoint_url: 'https://s3.example.test',
      aws_access_key_id: '{env:MY_KEY_ID}', aws_secret_access_key: secret, cache_dir_vae: 'vae/bucket', caption_strategy: 'filename' });
    const { dataloader } = await makeWorkspace(root, { extraEntries: [remote('literal-secret-value')] });
    const r = await build(dataloader);
    const packed = (await readZip(r.zipPath)).get(PACKAGE_DATALOADER);
    assert.ok(packed, 'the dataloader is in the package');
    const text = packed.data.toString('utf8');
    assert.ok(!text.includes('literal-secret-value'), 'the secret stayed home');
    const entry = (JSON.parse(text) as Array<Record<string, unknown>>).find((d) => d.id === 'bucket')!;
    assert.equal(entry.aws_secret_access_key, '{env:AWS_SECRET_ACCESS_KEY}');
    assert.equal(entry.aws_access_key_id, '{env:MY_KEY_ID}', 'a reference is kept as written');
    assert.equal(entry.cache_dir_vae, 'vae/bucket', 'a remote dataset keeps its S3 prefix');
    const ex = r.excluded.find((e) => e.dataset === 'bucket');
    assert.deepEqual(ex && { relPath: ex.relPath }, { relPath: 'aws_secret_access_key' });
    assert.match(ex!.reason, /^secret: credential replaced by \{env:AWS_SECRET_ACCESS_KEY\}/);
    assert.equal(r.excluded.filter((e) => e.dataset === 'bucket').length, 1);
  });

  it('rewrites the dataloader config so every dataset path points at files inside the zip', async () => {
    const { dataloader, training } = await makeWorkspace(root, {
      datasets: { a: { '1.jpg': Buffer.alloc(50, 1), '1.txt': 'x' }, b: { '2.png': Buffer.alloc(60, 2), 'meta/captions.parquet': Buffer.alloc(30, 3) } },
      extraEntries: [{ id: 'remote', type: 'aws', aws_bucket_name: 'bucket', aws_endpoint_url: 'https://s3.example.com', aws_access_key_id: '{env:AWS_ACCESS_KEY_ID}', aws_secret_access_key: '{env:AWS_SECRET_ACCESS_KEY}', aws_data_prefix: 'imgs/', cache_dir_vae: 'vae/{id}/' }],
    });
    // b uses parquet captions inside its folder; a second parquet lives outside every dataset.
    const cfg = JSON.parse(await fs.readFile(dataloader, 'utf8')) as Array<Record<string, unknown>>;
    cfg[1]!.parquet = { path: 'datasets/b/meta/captions.parquet', filename_column: 'file' };
    cfg[0]!.caption_strategy = 'parquet';
    cfg[0]!.metadata_backend = 'parquet';
    cfg[0]!.parquet = { path: 'meta/a-captions.parquet' };
    await write(path.join(root, 'meta', 'a-captions.parquet'), Buffer.alloc(40, 4));
    await fs.writeFile(dataloader, JSON.stringify(cfg, null, 2));

    const r = await build(dataloader, { trainingConfigPath: training });
    const zip = await readZip(r.zipPath);
    const inZip = JSON.parse(zip.get('multidatabackend.json')!.data.toString()) as Array<Record<string, any>>;
    assert.deepEqual(inZip, r.rewrittenDataloader);
    const [a, b, , remote] = inZip;
    for (const ds of [a!, b!]) {
      const dir = ds.instance_data_dir as string;
      assert.ok([...zip.keys()].some((k) => k.startsWith(`${dir}/`)), `${dir} has no files in the zip`);
      assert.ok(!path.isAbsolute(dir));
      assert.match(ds.cache_dir_vae, /^cache\//);
    }
    assert.deepEqual(a!.my_future_option, { keep: true }, 'unknown fields survive the rewrite');
    assert.ok(zip.has(a!.parquet.path), `outside parquet packaged at ${a!.parquet.path}`);
    assert.ok(zip.has(b!.parquet.path), `inside parquet at ${b!.parquet.path}`);
    assert.equal(b!.parquet.filename_column, 'file');
    // A remote dataset's cache_dir* is an S3 prefix, not a folder here: kept exactly as written.
    assert.deepEqual(remote, cfg[3]);
    assert.equal(remote!.cache_dir_vae, 'vae/{id}/');

    const trainingInZip = JSON.parse(zip.get('config/config.json')!.data.toString()) as Record<string, unknown>;
    assert.equal(trainingInZip['--data_backend_config'], 'multidatabackend.json');
    assert.ok(zip.has(trainingInZip['--data_backend_config'] as string));
    assert.equal(trainingInZip['--hub_token'], undefined, 'credentials are stripped from the packaged training config');
    assert.ok(!zip.get('config/config.json')!.data.toString().includes('hf_secret_value'));
    assert.ok(r.excluded.some((e) => e.relPath === '--hub_token' && /credential/.test(e.reason)));
  });

  it('stores compressed media, deflates text, and writes a manifest whose sha256s match the bytes', async () => {
    const { dataloader } = await makeWorkspace(root, { datasets: { s: { 'a.jpg': Buffer.alloc(5000, 1), 'b.webp': Buffer.alloc(5000, 2), 'c.safetensors': Buffer.alloc(5000, 3), 'a.txt': 'caption '.repeat(500) } } });
    const progress: PackageProgress[] = [];
    const r = await build(dataloader, { onProgress: (p) => progress.push(p) });
    PackageResultSchema.parse(r);
    const zip = await readZip(r.zipPath);
    assert.equal(zip.get('datasets/s/a.jpg')!.method, 0);
    assert.equal(zip.get('datasets/s/b.webp')!.method, 0);
    assert.equal(zip.get('datasets/s/c.safetensors')!.method, 0);
    assert.equal(zip.get('datasets/s/a.txt')!.method, 8);
    const manifestBuf = zip.get('manifest.json')!.data;
    assert.equal(r.sha256, sha(manifestBuf), 'the package identity is the manifest hash');
    assert.equal(path.basename(r.zipPath), `${r.sha256}.zip`);
    const manifest = JSON.parse(manifestBuf.toString()) as { files: Array<{ path: string; size: number; sha256: string }> };
    assert.equal(manifest.files.length, zip.size - 1);
    for (const f of manifest.files) {
      assert.equal(f.size, zip.get(f.path)!.data.length, f.path);
      assert.equal(f.sha256, sha(zip.get(f.path)!.data), f.path);
    }
    assert.deepEqual([...new Set(progress.map((p) => p.stage))], ['scanning', 'hashing', 'packaging', 'verifying', 'complete']);
    assert.equal(r.totalFiles, 4);
    assert.equal(r.totalBytes, 15000 + 'caption '.repeat(500).length);
    assert.equal(r.zipBytes, (await fs.stat(r.zipPath)).size);
  });

  it('recognises an unchanged dataset from the hash cache without reading bytes, and does not write it again', async () => {
    const { dataloader } = await makeWorkspace(root);
    const img = path.join(root, 'datasets', 'portraits', 'a.jpg');
    const when = new Date('2024-05-01T10:00:00Z');
    await fs.utimes(img, when, when);
    const first = await build(dataloader);
    const zipStat = await fs.stat(first.zipPath);
    // Same size and mtime but different bytes: only a re-read could notice, so reuse proves no re-read.
    const st = await fs.stat(img);
    await fs.writeFile(img, Buffer.alloc(st.size, 9));
    await fs.utimes(img, when, when);
    const second = await build(dataloader);
    assert.equal(second.reused, true);
    assert.equal(second.sha256, first.sha256);
    assert.equal((await fs.stat(first.zipPath)).mtimeMs, zipStat.mtimeMs, 'the zip was not rewritten');
    assert.deepEqual((await fs.readdir(path.join(root, 'out'))).sort(), [`${first.sha256}.json`, `${first.sha256}.zip`]);

    // A real change (new mtime) gives a new identity and a new package.
    await fs.writeFile(img, Buffer.alloc(st.size + 1, 9));
    const third = await build(dataloader);
    assert.equal(third.reused, false);
    assert.notEqual(third.sha256, first.sha256);
  });

  it('hashes on the packaging worker from the shared ring with the same results (files larger than a ring piece)', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 12; i++) files[`img${i}.png`] = Buffer.alloc(300_000 + i * 250_000, i + 1);
    files['huge.png'] = Buffer.alloc(9 * 1024 * 1024 + 17, 0x5a); // streamed in pieces
    files['note.txt'] = Buffer.from('deflated, hashed on the worker too '.repeat(100));
    const { dataloader } = await makeWorkspace(root, { datasets: { w: files } });
    const r = await build(dataloader); // verify: 'full' re-hashes every entry
    const zip = await readZip(r.zipPath);
    const manifest = JSON.parse(zip.get('manifest.json')!.data.toString()) as { files: Array<{ path: string; sha256: string }> };
    for (const [name, data] of Object.entries(files)) assert.equal(manifest.files.find((f) => f.path === `datasets/w/${name}`)!.sha256, sha(data), name);
  });

  it('cancels cleanly: AbortError, no partial zip left behind', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 40; i++) files[`img${i}.jpg`] = Buffer.alloc(256 * 1024, i);
    const { dataloader } = await makeWorkspace(root, { datasets: { big: files } });
    const ac = new AbortController();
    await assert.rejects(build(dataloader, { signal: ac.signal, onProgress: (p) => { if (p.stage === 'packaging') setImmediate(() => ac.abort()); } }), { name: 'AbortError' });
    const left = await fs.readdir(path.join(root, 'out')).catch(() => []);
    assert.deepEqual(left, []);
  });

  it('verification with yauzl catches a corrupted package', async () => {
    const { dataloader } = await makeWorkspace(root);
    const r = await build(dataloader);
    const manifest = JSON.parse((await readZip(r.zipPath)).get('manifest.json')!.data.toString()) as { files: Array<{ path: string; size: number; sha256: string }> };
    const expected = [...manifest.files, { path: 'manifest.json', size: 0, sha256: '0'.repeat(64) }];
    expected[expected.length - 1]!.size = (await readZip(r.zipPath)).get('manifest.json')!.size;
    expected[expected.length - 1]!.sha256 = sha((await readZip(r.zipPath)).get('manifest.json')!.data);
    await verifyZip(r.zipPath, expected, 'full');
    const buf = await fs.readFile(r.zipPath);
    const at = buf.indexOf(Buffer.alloc(64, 1)); // inside a.jpg's stored bytes
    buf[at + 10] = 0xff;
    const bad = path.join(root, 'bad.zip');
    await fs.writeFile(bad, buf);
    await assert.rejects(verifyZip(bad, expected, 'full'), /content differs/);
    await assert.rejects(verifyZip(bad, expected.slice(1), 'structure'), /unexpected entry/);
    await fs.writeFile(bad, buf.subarray(0, buf.length - 30));
    await assert.rejects(verifyZip(bad, expected, 'structure'));
  });
});
