import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { chunkSignature, deriveSigningKey } from '../../../src/server/s3/sigv4';
import { Sha256, TestServer, startTestServer } from './helpers';

describe('S3 endpoint protocol details', () => {
  let t: TestServer;
  beforeEach(async () => {
    t = await startTestServer();
    await t.client().send(new CreateBucketCommand({ Bucket: 'proto' }));
  });
  afterEach(async () => {
    await t.dispose();
  });

  async function sign(method: string, key: string, headers: Record<string, string>, creds = t.admin) {
    const url = new URL(t.server.storageEndpoint);
    const signer = new SignatureV4({ credentials: creds, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    return signer.sign({ method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: `${url.pathname}/proto/${key}`, headers: { host: url.host, ...headers } });
  }

  it('accepts a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload end to end', async () => {
    const data = randomBytes(150_000);
    const chunks = [data.subarray(0, 65536), data.subarray(65536, 131072), data.subarray(131072)];
    const framing = chunks.reduce((n, c) => n + c.length.toString(16).length + 17 + 64 + 4, 0) + 1 + 17 + 64 + 4;
    const signed = await sign('PUT', 'streamed.bin', {
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(data.length), 'content-length': String(data.length + framing),
    });
    const auth = String(signed.headers.authorization);
    const seed = /Signature=([0-9a-f]{64})/.exec(auth)![1]!;
    const amzDate = String(signed.headers['x-amz-date']);
    const ctx = { signingKey: deriveSigningKey(t.admin.secretAccessKey, amzDate.slice(0, 8), 'us-east-1', 's3'), amzDate, scope: `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`, seedSignature: seed };
    let prev = seed;
    const parts: Buffer[] = [];
    for (const c of [...chunks, Buffer.alloc(0)]) {
      const sig = chunkSignature(ctx, prev, createHash('sha256').update(c).digest('hex'));
      parts.push(Buffer.from(`${c.length.toString(16)};chunk-signature=${sig}\r\n`), c, Buffer.from('\r\n'));
      prev = sig;
    }
    const body = Buffer.concat(parts);
    assert.equal(body.length, data.length + framing);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: t.server.port, method: 'PUT', path: signed.path, headers: signed.headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(status, 200);
    assert.ok((await fs.readFile(path.join(t.storageDir, 'proto', 'streamed.bin'))).equals(data));
  });

  it('answers Expect: 100-continue only once the request is authorised', async () => {
    const tryPut = async (key: string, creds: { accessKeyId: string; secretAccessKey: string }) => {
      const signed = await sign('PUT', key, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', expect: '100-continue', 'content-length': '5' }, creds);
      return new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
        let continued = false;
        const req = http.request({ host: '127.0.0.1', port: t.server.port, method: 'PUT', path: signed.path, headers: signed.headers }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, continued }));
        });
        req.on('continue', () => {
          continued = true;
          req.end('hello');
        });
        req.on('error', reject);
        req.flushHeaders();
      });
    };
    const ok = await tryPut('c.txt', t.admin);
    assert.deepEqual(ok, { status: 200, continued: true });
    const job = await t.credentials.mintJobCredentials({ jobId: 'j', bucket: 'proto', prefix: 'jobs/j/', ttlSeconds: 60 });
    const refused = await tryPut('not-mine.txt', job);
    assert.deepEqual(refused, { status: 403, continued: false });
  });

  it('supports ListObjects (v1) with markers and conditional GETs', async () => {
    const s3 = t.client();
    for (const k of ['x/1', 'x/2', 'x/3']) await s3.send(new PutObjectCommand({ Bucket: 'proto', Key: k, Body: k }));
    const p1 = await s3.send(new ListObjectsCommand({ Bucket: 'proto', Prefix: 'x/', MaxKeys: 2 }));
    assert.deepEqual(p1.Contents?.map((o) => o.Key), ['x/1', 'x/2']);
    assert.equal(p1.IsTruncated, true);
    const p2 = await s3.send(new ListObjectsCommand({ Bucket: 'proto', Prefix: 'x/', Marker: p1.NextMarker }));
    assert.deepEqual(p2.Contents?.map((o) => o.Key), ['x/3']);

    const head = await s3.send(new GetObjectCommand({ Bucket: 'proto', Key: 'x/1' }));
    await head.Body!.transformToString();
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'proto', Key: 'x/1', IfNoneMatch: head.ETag })), (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 304);
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'proto', Key: 'x/1', IfMatch: '"0000"' })), (e: Error) => e.name === 'PreconditionFailed');
  });
});
