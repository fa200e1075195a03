import assert from 'node:assert/strict';
import http from 'node:http';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { CredentialStore } from '../../../src/server/index';
import { Sha256, TestServer, startTestServer } from './helpers';

/** Sends a raw HTTP request signed by the SDK's own SigV4 signer, so we can tamper after signing. */
async function signedRequest(t: TestServer, opts: { method: string; path: string; headers?: Record<string, string>; body?: string; creds?: { accessKeyId: string; secretAccessKey: string } }) {
  const url = new URL(t.server.storageEndpoint);
  const signer = new SignatureV4({ credentials: opts.creds ?? t.admin, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
  const body = opts.body ?? '';
  const signed = await signer.sign({
    method: opts.method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname + opts.path,
    headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...(opts.headers ?? {}) }, body,
  });
  return signed;
}

function send(t: TestServer, req: { method: string; path: string; headers: Record<string, string> }, body = ''): Promise<{ status: number; text: string }> {
  const url = new URL(t.server.url);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: { ...req.headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

const code = (text: string): string | undefined => /<Code>([^<]+)<\/Code>/.exec(text)?.[1];

describe('S3 endpoint refuses what it must', function () {
  let t: TestServer;
  let s3: S3Client;
  beforeEach(async () => {
    t = await startTestServer();
    s3 = t.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'outputs' }));
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('refuses a wrong secret, an unknown key id and an unsigned request', async () => {
    const wrong = t.client({ accessKeyId: t.admin.accessKeyId, secretAccessKey: 'not-the-secret-at-all' });
    await assert.rejects(wrong.send(new PutObjectCommand({ Bucket: 'outputs', Key: 'x', Body: 'x' })), (e: Error) => e.name === 'SignatureDoesNotMatch');
    const unknown = t.client({ accessKeyId: 'NOSUCHKEY123', secretAccessKey: 'whatever-secret' });
    await assert.rejects(unknown.send(new GetObjectCommand({ Bucket: 'outputs', Key: 'x' })), (e: Error) => e.name === 'InvalidAccessKeyId');
    const anon = await fetch(`${t.server.storageEndpoint}/outputs/x`, { method: 'PUT', body: 'x' });
    assert.equal(anon.status, 403);
    assert.equal(code(await anon.text()), 'AccessDenied');
    await assert.rejects(fs.access(path.join(t.storageDir, 'outputs', 'x')));
  });

  it('scopes job credentials to their bucket and prefix and expires them', async () => {
    let now = Date.now();
    const store = new CredentialStore(undefined, () => now);
    // Swap in a store with a controllable clock: mint through the server's own store for realism.
    const job1 = await t.credentials.mintJobCredentials({ jobId: 'job1', bucket: 'outputs', prefix: 'jobs/job1', ttlSeconds: 3600 });
    const job2 = await t.credentials.mintJobCredentials({ jobId: 'job2', bucket: 'outputs', prefix: 'jobs/job2/', ttlSeconds: 3600 });
    assert.equal(job1.prefix, 'jobs/job1/');
    const c1 = t.client(job1);
    await c1.send(new PutObjectCommand({ Bucket: 'outputs', Key: 'jobs/job1/model.bin', Body: 'm1' }));
    await t.client(job2).send(new PutObjectCommand({ Bucket: 'outputs', Key: 'jobs/job2/model.bin', Body: 'm2' }));
    // Another job's prefix, a sibling prefix sharing the start, the bucket root, another bucket.
    for (const key of ['jobs/job2/model.bin', 'jobs/job10/x', 'root.bin']) {
      await assert.rejects(c1.send(new PutObjectCommand({ Bucket: 'outputs', Key: key, Body: 'evil' })), (e: Error) => e.name === 'AccessDenied', key);
    }
    await assert.rejects(c1.send(new GetObjectCommand({ Bucket: 'outputs', Key: 'jobs/job2/model.bin' })), (e: Error) => e.name === 'AccessDenied');
    await assert.rejects(c1.send(new PutObjectCommand({ Bucket: 'other', Key: 'jobs/job1/x', Body: 'x' })), (e: Error) => e.name === 'AccessDenied');
    await assert.rejects(c1.send(new ListObjectsV2Command({ Bucket: 'outputs', Prefix: 'jobs/' })), (e: Error) => e.name === 'AccessDenied');
    // Listing its own prefix without the slash shows only its own keys.
    const own = await c1.send(new ListObjectsV2Command({ Bucket: 'outputs', Prefix: 'jobs/job1' }));
    assert.deepEqual(own.Contents?.map((o) => o.Key), ['jobs/job1/model.bin']);
    assert.equal(await fs.readFile(path.join(t.storageDir, 'outputs', 'jobs', 'job2', 'model.bin'), 'utf8'), 'm2');

    // Expiry: a store with a clock we move.
    const exp = await store.mintJobCredentials({ jobId: 'j', bucket: 'outputs', prefix: 'p/', ttlSeconds: 60 });
    assert.ok(store.lookup(exp.accessKeyId));
    now += 61_000;
    assert.ok(store.isExpired(store.lookup(exp.accessKeyId)!));
  });

  it('answers ExpiredToken once job credentials expire', async () => {
    let later = 0;
    const t2 = await startTestServer({ now: () => Date.now() + later });
    try {
      const job = await t2.credentials.mintJobCredentials({ jobId: 'a', bucket: 'outputs', prefix: 'a/', ttlSeconds: 60 });
      const c = t2.client(job);
      await c.send(new PutObjectCommand({ Bucket: 'outputs', Key: 'a/ok.txt', Body: 'ok' }));
      later = 61_000; // the credentials' clock moves past their expiry
      await assert.rejects(c.send(new PutObjectCommand({ Bucket: 'outputs', Key: 'a/late.txt', Body: 'x' })), (e: Error) => e.name === 'ExpiredToken');
      await assert.rejects(fs.access(path.join(t2.storageDir, 'outputs', 'a', 'late.txt')));
    } finally {
      await t2.dispose();
    }
  });

  it('persists minted credentials in a 0600 file and accepts them after a restart', async () => {
    const minted = await t.credentials.mintJobCredentials({ jobId: 'job9', bucket: 'outputs', prefix: 'jobs/job9/', ttlSeconds: 600 });
    const file = path.join(t.dir, 'home', 'server', 'creds.json');
    const st = await fs.stat(file);
    assert.equal(st.mode & 0o777, 0o600);
    const reopened = await CredentialStore.open(file);
    assert.equal(reopened.lookup(minted.accessKeyId)?.secretAccessKey, minted.secretAccessKey);
    await reopened.revokeJob('job9');
    assert.equal(reopened.lookup(minted.accessKeyId), undefined);
  });

  it('refuses tampered signed headers and a skewed clock', async () => {
    const signed = await signedRequest(t, { method: 'PUT', path: '/outputs/t.txt', headers: { 'x-amz-meta-owner': 'alice' } });
    const good = await send(t, { method: 'PUT', path: signed.path, headers: signed.headers as Record<string, string> }, 'data');
    assert.equal(good.status, 200, good.text);
    const tampered = { ...(signed.headers as Record<string, string>), 'x-amz-meta-owner': 'mallory' };
    const bad = await send(t, { method: 'PUT', path: signed.path, headers: tampered }, 'data');
    assert.equal(bad.status, 403);
    assert.equal(code(bad.text), 'SignatureDoesNotMatch');
    const otherPath = await send(t, { method: 'PUT', path: signed.path.replace('t.txt', 'u.txt'), headers: signed.headers as Record<string, string> }, 'data');
    assert.equal(code(otherPath.text), 'SignatureDoesNotMatch');

    const old = new SignatureV4({ credentials: t.admin, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    const url = new URL(t.server.storageEndpoint);
    const stale = await old.sign({ method: 'GET', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: `${url.pathname}/outputs/t.txt`,
      headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, { signingDate: new Date(Date.now() - 3600_000) });
    const skewed = await send(t, { method: 'GET', path: stale.path, headers: stale.headers as Record<string, string> });
    assert.equal(code(skewed.text), 'RequestTimeTooSkewed');
  });

  it('refuses a body that does not match its signed SHA-256', async () => {
    const url = new URL(t.server.storageEndpoint);
    const signer = new SignatureV4({ credentials: t.admin, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: `${url.pathname}/outputs/h.txt`,
      headers: { host: url.host }, body: 'the real body' });
    const r = await send(t, { method: 'PUT', path: signed.path, headers: signed.headers as Record<string, string> }, 'a fake body!!');
    assert.equal(code(r.text), 'XAmzContentSHA256Mismatch');
    await assert.rejects(fs.access(path.join(t.storageDir, 'outputs', 'h.txt')));
  });

  it('refuses keys that would escape the storage folder', async () => {
    await fs.writeFile(path.join(t.dir, 'secret.txt'), 'outside');
    const attempts = [
      '/outputs/../secret.txt', '/outputs/%2e%2e/secret.txt', '/outputs/%2E%2E/%2e%2e/secret.txt', '/outputs/a/..%2f..%2fsecret.txt',
      '/outputs/%2fetc%2fpasswd', '/outputs//etc/passwd', '/outputs/a/./b', '/outputs/a%5c..%5c..%5csecret.txt', '/outputs/a%00b', '/%2e%2e/secret.txt',
    ];
    for (const p of attempts) {
      for (const method of ['PUT', 'GET']) {
        const signed = await signedRequest(t, { method, path: p });
        const r = await send(t, { method, path: signed.path, headers: signed.headers as Record<string, string> }, method === 'PUT' ? 'pwned' : '');
        assert.ok(r.status >= 400 && r.status < 500, `${method} ${p} → ${r.status}`);
        assert.ok(['InvalidArgument', 'InvalidBucketName', 'NoSuchKey'].includes(code(r.text) ?? ''), `${method} ${p} → ${r.text}`);
      }
    }
    assert.equal(await fs.readFile(path.join(t.dir, 'secret.txt'), 'utf8'), 'outside');
    assert.deepEqual(await fs.readdir(path.join(t.storageDir, 'outputs')), []);
    // A literal "%2e%2e" (double-encoded) is just a file name, inside the bucket.
    await s3.send(new PutObjectCommand({ Bucket: 'outputs', Key: '%2e%2e/ok.txt', Body: 'fine' }));
    assert.equal(await fs.readFile(path.join(t.storageDir, 'outputs', '%2e%2e', 'ok.txt'), 'utf8'), 'fine');
  });

  it('does not follow symlinks placed in the storage folder out of it', async () => {
    const outside = path.join(t.dir, 'outside');
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, 'secret.txt'), 'outside');
    await fs.symlink(outside, path.join(t.storageDir, 'outputs', 'link'));
    await fs.symlink(path.join(outside, 'secret.txt'), path.join(t.storageDir, 'outputs', 'file-link'));
    await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'outputs', Key: 'link/new.txt', Body: 'x' })), (e: Error) => e.name === 'InvalidArgument');
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'outputs', Key: 'link/secret.txt' })), (e: Error) => e.name === 'NoSuchKey');
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'outputs', Key: 'file-link' })), (e: Error) => e.name === 'NoSuchKey');
    assert.deepEqual(await fs.readdir(outside), ['secret.txt']);
  });

  it('leaves no visible object when an upload is killed mid-PUT', async () => {
    const url = new URL(t.server.storageEndpoint);
    const signer = new SignatureV4({ credentials: t.admin, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: `${url.pathname}/outputs/killed.bin`,
      headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(10 * 1024 * 1024) } });
    await new Promise<void>((resolve) => {
      const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path: signed.path, headers: signed.headers });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(3 * 1024 * 1024, 1), () => setTimeout(() => {
        req.destroy();
        resolve();
      }, 100));
    });
    // Give the server a moment to notice and clean up, bounded.
    const tmpDir = path.join(t.storageDir, '.cloudtrain', 'tmp');
    for (let i = 0; i < 50 && (await fs.readdir(tmpDir)).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await fs.readdir(tmpDir), []);
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'outputs', Key: 'killed.bin' })), (e: Error) => e.name === 'NoSuchKey');
    const list = await s3.send(new ListObjectsV2Command({ Bucket: 'outputs' }));
    assert.equal(list.KeyCount, 0);
    assert.equal(t.stored.length, 0);
  });
});
