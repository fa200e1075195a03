import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { signWebhook } from '../../../src/server/webhooks';
import { TestServer, startTestServer } from './helpers';

const run = promisify(execFile);
const S3CMD = '/usr/bin/s3cmd';
const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

/**
 * s3cmd (Debian) signs path-style requests assuming the bucket is the first path segment, so it
 * needs the S3 API at the root (`cloudtrain serve --path-prefix /`); it also checks that each
 * multipart part's ETag is the MD5 of what it sent.
 */
describe('S3 endpoint with s3cmd (Debian s3cmd), API at the root', function () {
  this.timeout(120_000);
  let t: TestServer;
  let cfg: string;
  const webhooks: unknown[] = [];

  const s3cmd = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(S3CMD, ['-c', cfg, '--no-progress', ...args], { env: { PATH: process.env.PATH, HOME: t.dir }, timeout: 90_000 });
    return stdout;
  };

  before(async function () {
    try {
      await fs.access(S3CMD);
    } catch {
      this.skip(); // .ci/run installs s3cmd
    }
  });

  beforeEach(async () => {
    webhooks.length = 0;
    t = await startTestServer({
      storagePath: '/',
      webhooks: { getSecret: (p) => (p === 'replicate' ? SECRET : undefined), handler: async (_p, payload) => void webhooks.push(payload) },
    });
    const host = new URL(t.server.url).host;
    cfg = path.join(t.dir, 's3cfg');
    await fs.writeFile(cfg, [
      '[default]',
      `access_key = ${t.admin.accessKeyId}`,
      `secret_key = ${t.admin.secretAccessKey}`,
      `host_base = ${host}`,
      `host_bucket = ${host}`,
      'use_https = False',
      'signature_v2 = False',
      'bucket_location = us-east-1',
      'check_ssl_certificate = False',
      '',
    ].join('\n'));
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('mb, put (single and multipart), ls, get, del; webhooks still answer beside the root API', async () => {
    assert.equal(t.server.storageEndpoint, t.server.url);
    const small = path.join(t.dir, 'config.json');
    await fs.writeFile(small, '{"lr":1e-4}');
    const big = randomBytes(11 * 1024 * 1024 + 5);
    const bigFile = path.join(t.dir, 'model.safetensors');
    await fs.writeFile(bigFile, big);

    await s3cmd('mb', 's3://results');
    await s3cmd('put', small, 's3://results/job-1/config.json');
    // 5 MiB parts: three parts; s3cmd compares every part's ETag with the part's MD5.
    await s3cmd('put', '--multipart-chunk-size-mb=5', bigFile, 's3://results/job-1/model.safetensors');
    assert.match(t.stored.find((e) => e.key === 'job-1/model.safetensors')?.etag ?? '', /^"[0-9a-f]{32}-3"$/, 'went up in three parts');
    assert.ok((await fs.readFile(path.join(t.storageDir, 'results', 'job-1', 'model.safetensors'))).equals(big));

    const ls = await s3cmd('ls', '--recursive', 's3://results/');
    assert.match(ls, /s3:\/\/results\/job-1\/config\.json/);
    assert.match(ls, /s3:\/\/results\/job-1\/model\.safetensors/);

    const back = path.join(t.dir, 'back.bin');
    await s3cmd('get', 's3://results/job-1/model.safetensors', back);
    assert.equal(createHash('sha256').update(await fs.readFile(back)).digest('hex'), createHash('sha256').update(big).digest('hex'));

    // s3cmd info shows the MD5 ETag of a single PUT.
    const info = await s3cmd('info', 's3://results/job-1/config.json');
    assert.match(info, new RegExp(createHash('md5').update('{"lr":1e-4}').digest('hex')));

    await s3cmd('del', 's3://results/job-1/config.json');
    await assert.rejects(fs.access(path.join(t.storageDir, 'results', 'job-1', 'config.json')));

    // The bucket name the server's own routes use is refused at the root.
    await assert.rejects(s3cmd('mb', 's3://api'), (e: { stderr: string }) => /InvalidBucketName|reserved/.test(e.stderr));

    const body = JSON.stringify({ id: 'train-1', status: 'succeeded' });
    const ts = Math.floor(Date.now() / 1000);
    const r = await fetch(`${t.server.url}/api/cloud/webhooks/replicate`, {
      method: 'POST', body,
      headers: { 'content-type': 'application/json', 'webhook-id': 'msg_root', 'webhook-timestamp': String(ts), 'webhook-signature': signWebhook({ id: 'msg_root', timestamp: ts, body, secret: SECRET }) },
    });
    assert.equal(r.status, 200);
    assert.equal(webhooks.length, 1);
    assert.equal((await fetch(`${t.server.url}/api/cloud/health`)).status, 200);
  });
});
