import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand,
  HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { crc64nvme } from '../../../src/server/s3/checksums';
import { Sha256, TestServer, startTestServer } from './helpers';

/**
 * Issue 16, section 2: hostile and unusual requests the endpoint must answer as S3 does, with real
 * clients where one exists (@aws-sdk/client-s3, its presigner) and raw requests where the attack
 * needs bytes no client sends.
 */

const code = (text: string): string | undefined => /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
const md5hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');

interface Reply { status: number; headers: http.IncomingHttpHeaders; text: string }

/** Signs with the SDK's own SigV4 signer (every header given is signed), then sends with node:http. */
async function signedSend(t: TestServer, opts: {
  method: string; path: string; headers?: Record<string, string>; body?: Buffer | string; unsignedHeaders?: Record<string, string>; query?: Record<string, string>;
}): Promise<Reply> {
  const url = new URL(t.server.storageEndpoint);
  const signer = new SignatureV4({ credentials: t.admin, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
  const body = opts.body ?? '';
  const signed = await signer.sign({
    method: opts.method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname + opts.path, query: opts.query,
    headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(Buffer.byteLength(body)), ...(opts.headers ?? {}) }, body,
  });
  const qs = opts.query ? `?${new URLSearchParams(opts.query).toString()}` : '';
  return request({ method: opts.method, path: `${signed.path}${qs}`, headers: { ...(signed.headers as Record<string, string>), ...(opts.unsignedHeaders ?? {}) } }, t, body);
}

function request(req: { method: string; path: string; headers: Record<string, string> }, t: TestServer, body: Buffer | string = ''): Promise<Reply> {
  const url = new URL(t.server.url);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

/** aws-chunked framing without chunk signatures (STREAMING-UNSIGNED-PAYLOAD-TRAILER), as the SDK sends it. */
function awsChunked(data: Buffer, chunk = 16 * 1024): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) {
    const c = data.subarray(i, i + chunk);
    out.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  out.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(out);
}

describe('S3 endpoint hardening (issue 16)', function () {
  this.timeout(60_000);
  let t: TestServer;
  afterEach(async () => {
    await t?.dispose();
  });

  describe('symlinks inside the store', () => {
    let outside: string;
    beforeEach(async () => {
      t = await startTestServer();
      await t.client().send(new CreateBucketCommand({ Bucket: 'outputs' }));
      outside = path.join(t.dir, 'outside');
      await fs.mkdir(outside);
      await fs.writeFile(path.join(outside, 'secret.txt'), 'outside secret');
      await fs.symlink(outside, path.join(t.storageDir, 'outputs', 'link'));
      await t.client().send(new PutObjectCommand({ Bucket: 'outputs', Key: 'real/own.txt', Body: 'own' }));
    });

    it('list, GET, HEAD, PUT, DELETE, copy and multipart never act through a link out of the bucket', async () => {
      const s3 = t.client();
      // Listing: through the link's prefix, and of the whole bucket.
      const viaLink = await s3.send(new ListObjectsV2Command({ Bucket: 'outputs', Prefix: 'link/' }));
      assert.equal(viaLink.KeyCount, 0);
      const deeper = await s3.send(new ListObjectsV2Command({ Bucket: 'outputs', Prefix: 'link/sec' }));
      assert.equal(deeper.KeyCount, 0);
      const all = await s3.send(new ListObjectsV2Command({ Bucket: 'outputs' }));
      assert.deepEqual(all.Contents?.map((o) => o.Key), ['real/own.txt']);

      await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'outputs', Key: 'link/secret.txt' })), (e: Error) => e.name === 'NoSuchKey');
      await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'outputs', Key: 'link/secret.txt' })), (e: Error) => e.name === 'NotFound' || e.name === 'NoSuchKey');

      // PUT: no folder is created outside, nothing is written there.
      await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'outputs', Key: 'link/made/here.txt', Body: 'x' })), (e: Error) => e.name === 'InvalidArgument');
      await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'outputs', Key: 'link/secret.txt', Body: 'overwritten' })), (e: Error) => e.name === 'InvalidArgument');

      // DELETE (single and batch) answers as for a missing key and removes nothing outside.
      await s3.send(new DeleteObjectCommand({ Bucket: 'outputs', Key: 'link/secret.txt' }));
      const batch = await signedSend(t, {
        method: 'POST', path: '/outputs', query: { delete: '' },
        body: '<Delete><Object><Key>link/secret.txt</Key></Object></Delete>',
      });
      assert.equal(batch.status, 200, batch.text);

      // Copy: neither from nor to the linked folder.
      await assert.rejects(s3.send(new CopyObjectCommand({ Bucket: 'outputs', Key: 'stolen.txt', CopySource: 'outputs/link/secret.txt' })), (e: Error) => e.name === 'NoSuchKey');
      await assert.rejects(s3.send(new CopyObjectCommand({ Bucket: 'outputs', Key: 'link/copied.txt', CopySource: 'outputs/real/own.txt' })), (e: Error) => e.name === 'InvalidArgument');

      // Multipart: UploadPartCopy from the link, and completing into it.
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'outputs', Key: 'link/mp.bin' }));
      await assert.rejects(s3.send(new UploadPartCopyCommand({ Bucket: 'outputs', Key: 'link/mp.bin', UploadId, PartNumber: 1, CopySource: 'outputs/link/secret.txt' })),
        (e: Error) => e.name === 'NoSuchKey');
      const { ETag } = await s3.send(new UploadPartCommand({ Bucket: 'outputs', Key: 'link/mp.bin', UploadId, PartNumber: 1, Body: 'part' }));
      await assert.rejects(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'outputs', Key: 'link/mp.bin', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } })),
        (e: Error) => e.name === 'InvalidArgument');

      assert.deepEqual((await fs.readdir(outside)).sort(), ['secret.txt']);
      assert.equal(await fs.readFile(path.join(outside, 'secret.txt'), 'utf8'), 'outside secret');
      await assert.rejects(fs.access(path.join(t.storageDir, 'outputs', 'stolen.txt')));
    });

    it('a bucket folder that is a link out of the store is no bucket', async () => {
      await fs.symlink(outside, path.join(t.storageDir, 'linked-bucket'));
      const s3 = t.client();
      await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'linked-bucket', Key: 'secret.txt' })), (e: Error) => e.name === 'NoSuchBucket');
      await assert.rejects(s3.send(new ListObjectsV2Command({ Bucket: 'linked-bucket' })), (e: Error) => e.name === 'NoSuchBucket');
      await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'linked-bucket', Key: 'x.txt', Body: 'x' })), (e: Error) => e.name === 'NoSuchBucket');
      await s3.send(new DeleteObjectCommand({ Bucket: 'linked-bucket', Key: 'secret.txt' })).catch(() => undefined);
      const buckets = await signedSend(t, { method: 'GET', path: '' });
      assert.doesNotMatch(buckets.text, /linked-bucket/);
      assert.deepEqual(await fs.readdir(outside), ['secret.txt']);
    });

    it('a link that stays inside the bucket is followed for PUT', async () => {
      await fs.symlink(path.join(t.storageDir, 'outputs', 'real'), path.join(t.storageDir, 'outputs', 'alias'));
      await t.client().send(new PutObjectCommand({ Bucket: 'outputs', Key: 'alias/via-alias.txt', Body: 'in' }));
      assert.equal(await fs.readFile(path.join(t.storageDir, 'outputs', 'real', 'via-alias.txt'), 'utf8'), 'in');
    });
  });

  describe('multipart parts longer than they declare', () => {
    beforeEach(async () => {
      t = await startTestServer();
      await t.client().send(new CreateBucketCommand({ Bucket: 'mpu' }));
    });

    it('an aws-chunked part over x-amz-decoded-content-length is refused without touching its neighbour, and leaves no part behind', async () => {
      const s3 = t.client();
      const key = 'three.bin';
      const size = 64 * 1024;
      const [p1, p2, p3] = [randomBytes(size), randomBytes(size), randomBytes(size)];
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: key }));
      const e1 = (await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber: 1, Body: p1 }))).ETag!;
      const e3 = (await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber: 3, Body: p3 }))).ETag!;

      // Part 2 declares one slot's length but carries half a slot more: the extra bytes would land on part 3.
      const evil = Buffer.concat([randomBytes(size), Buffer.alloc(size / 2, 0xee)]);
      const framed = awsChunked(evil);
      const refused = await signedSend(t, {
        method: 'PUT', path: `/mpu/${key}`, query: { partNumber: '2', uploadId: UploadId! }, body: framed,
        headers: {
          'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'content-encoding': 'aws-chunked',
          'x-amz-decoded-content-length': String(size), 'content-length': String(framed.length),
        },
      });
      assert.equal(refused.status, 400, refused.text);
      assert.equal(code(refused.text), 'IncompleteBody');
      const listed = await signedSend(t, { method: 'GET', path: `/mpu/${key}`, query: { uploadId: UploadId! } });
      assert.deepEqual([...listed.text.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => m[1]), ['1', '3'], 'the refused part left no trace');
      await assert.rejects(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: key, UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: `"${md5hex(evil.subarray(0, size))}"` }, { PartNumber: 3, ETag: e3 }] } })),
      (e: Error) => e.name === 'InvalidPart');

      const e2 = (await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: key, UploadId, PartNumber: 2, Body: p2 }))).ETag!;
      await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: key, UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: e3 }] } }));
      const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: key }))).Body!.transformToByteArray());
      assert.ok(got.equals(Buffer.concat([p1, p2, p3])), 'part 3 intact');
    });
  });

  describe('unsigned x-amz-* headers', () => {
    beforeEach(async () => {
      t = await startTestServer();
      const s3 = t.client();
      await s3.send(new CreateBucketCommand({ Bucket: 'pre' }));
      await s3.send(new PutObjectCommand({ Bucket: 'pre', Key: 'private/secret.txt', Body: 'private' }));
    });

    it('a presigned PUT plus an unsigned x-amz-copy-source is refused, not turned into a copy', async () => {
      const url = await getSignedUrl(t.client(), new PutObjectCommand({ Bucket: 'pre', Key: 'upload/mine.txt' }), { expiresIn: 60 });
      const r = await fetch(url, { method: 'PUT', body: '', headers: { 'x-amz-copy-source': '/pre/private/secret.txt' } });
      const text = await r.text();
      assert.equal(r.status, 403, text);
      assert.equal(code(text), 'AccessDenied');
      assert.match(text, /There were headers present in the request which were not signed/);
      assert.match(text, /<HeadersNotSigned>x-amz-copy-source<\/HeadersNotSigned>/);
      await assert.rejects(fs.access(path.join(t.storageDir, 'pre', 'upload', 'mine.txt')));
      // Metadata, a security token or a date added to the URL are refused as well.
      for (const h of ['x-amz-meta-owner', 'x-amz-security-token', 'x-amz-date', 'x-amz-checksum-crc32']) {
        const again = await fetch(url, { method: 'PUT', body: 'data', headers: { [h]: h === 'x-amz-date' ? '20300101T000000Z' : 'AAAAAA==' } });
        assert.equal(again.status, 403, h);
        assert.match(await again.text(), new RegExp(`<HeadersNotSigned>${h}</HeadersNotSigned>`));
      }
      // The same URL as the presigner meant it works, also with an (unread) x-amz-content-sha256 header, as S3 tolerates.
      const ok = await fetch(url, { method: 'PUT', body: 'data', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
      assert.equal(ok.status, 200, await ok.text());
      assert.equal(await fs.readFile(path.join(t.storageDir, 'pre', 'upload', 'mine.txt'), 'utf8'), 'data');
    });

    it('header-signed requests with an unsigned x-amz-* header are refused too', async () => {
      const r = await signedSend(t, { method: 'PUT', path: '/pre/copy.txt', unsignedHeaders: { 'x-amz-copy-source': '/pre/private/secret.txt' } });
      assert.equal(r.status, 403, r.text);
      assert.match(r.text, /<HeadersNotSigned>x-amz-copy-source<\/HeadersNotSigned>/);
      const meta = await signedSend(t, { method: 'PUT', path: '/pre/meta.txt', body: 'x', unsignedHeaders: { 'x-amz-meta-a': '1', 'x-amz-tagging': 'a=b' } });
      assert.equal(meta.status, 403, meta.text);
      assert.match(meta.text, /<HeadersNotSigned>x-amz-meta-a, x-amz-tagging<\/HeadersNotSigned>/);
      await assert.rejects(fs.access(path.join(t.storageDir, 'pre', 'copy.txt')));
      // Signed, the same header is a copy.
      const copy = await signedSend(t, { method: 'PUT', path: '/pre/copy.txt', headers: { 'x-amz-copy-source': '/pre/private/secret.txt' } });
      assert.equal(copy.status, 200, copy.text);
      assert.equal(await fs.readFile(path.join(t.storageDir, 'pre', 'copy.txt'), 'utf8'), 'private');
    });
  });

  describe('checksums', () => {
    beforeEach(async () => {
      t = await startTestServer();
      await t.client().send(new CreateBucketCommand({ Bucket: 'sums' }));
    });

    it('CRC64/NVME matches its check value, and split updates agree with one pass', () => {
      const c = crc64nvme();
      c.update(Buffer.from('123456789'));
      assert.equal(Buffer.from(c.digestBase64(), 'base64').toString('hex'), 'ae8b14860a799888');
      const data = randomBytes(100_003);
      const whole = crc64nvme();
      whole.update(data);
      const split = crc64nvme();
      for (let i = 0, n = 1; i < data.length; i += n, n = (n * 7) % 61 + 1) split.update(data.subarray(i, i + n));
      assert.equal(split.digestBase64(), whole.digestBase64());
    });

    it('the SDK\'s CRC64NVME (header and trailer) is verified; a wrong one is BadDigest', async () => {
      const s3 = t.client();
      const body = randomBytes(200_000);
      await s3.send(new PutObjectCommand({ Bucket: 'sums', Key: 'ok.bin', Body: body, ChecksumAlgorithm: 'CRC64NVME' }));
      const meta = await fs.readdir(path.join(t.storageDir, '.cloudtrain', 'meta', 'sums'), { recursive: true });
      const stored = await Promise.all(meta.filter((f) => f.endsWith('.json')).map((f) => fs.readFile(path.join(t.storageDir, '.cloudtrain', 'meta', 'sums', f), 'utf8')));
      const c = crc64nvme();
      c.update(body);
      assert.ok(stored.some((m) => JSON.parse(m).checksums['x-amz-checksum-crc64nvme'] === c.digestBase64()), stored.join('\n'));
      await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'sums', Key: 'bad.bin', Body: body, ChecksumCRC64NVME: 'AAAAAAAAAAA=' })), (e: Error) => e.name === 'BadDigest');
      const raw = await signedSend(t, { method: 'PUT', path: '/sums/bad2.bin', body, headers: { 'x-amz-checksum-crc64nvme': 'AAAAAAAAAAA=' } });
      assert.equal(code(raw.text), 'BadDigest');
      await assert.rejects(fs.access(path.join(t.storageDir, 'sums', 'bad.bin')));
      await assert.rejects(fs.access(path.join(t.storageDir, 'sums', 'bad2.bin')));
    });

    it('refuses an unknown algorithm and more than one checksum', async () => {
      const body = Buffer.from('hello checksums');
      const unknown = await signedSend(t, { method: 'PUT', path: '/sums/u.bin', body, headers: { 'x-amz-checksum-md17': 'AAAA' } });
      assert.equal(unknown.status, 400);
      assert.equal(code(unknown.text), 'InvalidRequest');
      const crc32 = Buffer.alloc(4);
      crc32.writeUInt32BE((await import('node:zlib') as unknown as { crc32(b: Buffer): number }).crc32(body));
      const sha256 = createHash('sha256').update(body).digest('base64');
      // Both right, still two: S3 expects a single x-amz-checksum- header.
      const two = await signedSend(t, { method: 'PUT', path: '/sums/two.bin', body, headers: { 'x-amz-checksum-crc32': crc32.toString('base64'), 'x-amz-checksum-sha256': sha256 } });
      assert.equal(two.status, 400);
      assert.match(two.text, /Expecting a single x-amz-checksum- header/);
      // A header and a different trailer.
      const framed = awsChunked(body);
      const mixed = await signedSend(t, {
        method: 'PUT', path: '/sums/mixed.bin', body: framed,
        headers: {
          'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(body.length),
          'x-amz-checksum-sha256': sha256, 'x-amz-trailer': 'x-amz-checksum-crc32',
        },
      });
      assert.equal(mixed.status, 400, mixed.text);
      for (const k of ['u.bin', 'two.bin', 'mixed.bin']) await assert.rejects(fs.access(path.join(t.storageDir, 'sums', k)));
      // One right checksum is fine.
      const one = await signedSend(t, { method: 'PUT', path: '/sums/one.bin', body, headers: { 'x-amz-checksum-sha256': sha256 } });
      assert.equal(one.status, 200, one.text);
    });
  });

  describe('ETags', () => {
    beforeEach(async () => {
      t = await startTestServer();
      await t.client().send(new CreateBucketCommand({ Bucket: 'tags' }));
    });

    it('single PUT and part ETags are the MD5 of the bytes; a multipart ETag is MD5(part MD5s)-N', async () => {
      const s3 = t.client();
      const single = randomBytes(100_000);
      const put = await s3.send(new PutObjectCommand({ Bucket: 'tags', Key: 'single.bin', Body: single }));
      assert.equal(put.ETag, `"${md5hex(single)}"`);
      const parts = [randomBytes(300_000), randomBytes(300_000), randomBytes(12_345)];
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'tags', Key: 'multi.bin' }));
      const etags: string[] = [];
      for (const [i, p] of parts.entries()) {
        const { ETag } = await s3.send(new UploadPartCommand({ Bucket: 'tags', Key: 'multi.bin', UploadId, PartNumber: i + 1, Body: p }));
        assert.equal(ETag, `"${md5hex(p)}"`, `part ${i + 1}`);
        etags.push(ETag!);
      }
      const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'tags', Key: 'multi.bin', UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) } }));
      const expected = createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex');
      assert.equal(done.ETag, `"${expected}-3"`);
      assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'multi.bin' }))).ETag, `"${expected}-3"`);
    });
  });

  describe('XML bodies', () => {
    beforeEach(async () => {
      t = await startTestServer();
      await t.client().send(new CreateBucketCommand({ Bucket: 'xml' }));
    });

    it('character references outside XML\'s characters are MalformedXML, not a 500', async () => {
      const { UploadId } = await t.client().send(new CreateMultipartUploadCommand({ Bucket: 'xml', Key: 'k' }));
      for (const ref of ['&#x110000;', '&#xD800;', '&#1114112;', '&#0;', '&#99999999999999999999;']) {
        const complete = await signedSend(t, {
          method: 'POST', path: '/xml/k', query: { uploadId: UploadId! },
          body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${ref}</ETag></Part></CompleteMultipartUpload>`,
        });
        assert.equal(complete.status, 400, `${ref}: ${complete.text}`);
        assert.equal(code(complete.text), 'MalformedXML');
        const del = await signedSend(t, { method: 'POST', path: '/xml', query: { delete: '' }, body: `<Delete><Object><Key>a${ref}</Key></Object></Delete>` });
        assert.equal(del.status, 400, `${ref}: ${del.text}`);
        assert.equal(code(del.text), 'MalformedXML');
      }
      // A valid reference still decodes.
      await t.client().send(new PutObjectCommand({ Bucket: 'xml', Key: 'a\u00e9', Body: 'x' }));
      const ok = await signedSend(t, { method: 'POST', path: '/xml', query: { delete: '' }, body: '<Delete><Object><Key>a&#xE9;</Key></Object></Delete>' });
      assert.equal(ok.status, 200, ok.text);
      await assert.rejects(fs.access(path.join(t.storageDir, 'xml', 'a\u00e9')));
    });
  });

  describe('stalled and unbounded bodies', () => {
    it('a body that stops below its Content-Length is answered RequestTimeout, closed, and its temp file removed', async () => {
      t = await startTestServer({ idleTimeoutMs: 1000 });
      await t.client().send(new CreateBucketCommand({ Bucket: 'slow' }));
      const url = new URL(t.server.storageEndpoint);
      const signer = new SignatureV4({ credentials: t.admin, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
      const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: `${url.pathname}/slow/stalled.bin`,
        headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': '100000' } });
      const head = `PUT ${signed.path} HTTP/1.1\r\n${Object.entries(signed.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
      const sock = net.connect(Number(url.port), url.hostname);
      const started = Date.now();
      let answer = '';
      sock.on('data', (c) => (answer += c.toString('latin1')));
      const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
      sock.write(head);
      sock.write(Buffer.alloc(5000, 1));
      const tmpDir = path.join(t.storageDir, '.cloudtrain', 'tmp');
      // The temp file exists while the body is being received (bounded wait).
      for (let i = 0; i < 200 && (await fs.readdir(tmpDir)).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal((await fs.readdir(tmpDir)).length, 1);
      await closed;
      assert.ok(Date.now() - started >= 900, 'not before the idle period');
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.match(answer, /connection: close/i);
      assert.equal(code(answer), 'RequestTimeout');
      assert.match(answer, /Your socket connection to the server was not read from or written to within the timeout period/);
      for (let i = 0; i < 200 && (await fs.readdir(tmpDir)).length > 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(await fs.readdir(tmpDir), []);
      await assert.rejects(fs.access(path.join(t.storageDir, 'slow', 'stalled.bin')));
    });

    it('a body that keeps trickling within the idle period is taken', async () => {
      t = await startTestServer({ idleTimeoutMs: 1500 });
      await t.client().send(new CreateBucketCommand({ Bucket: 'slow' }));
      const url = new URL(t.server.storageEndpoint);
      const signer = new SignatureV4({ credentials: t.admin, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
      const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: `${url.pathname}/slow/trickle.bin`,
        headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': '16' } });
      const r = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path: signed.path, headers: signed.headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        // Eight writes 250 ms apart: longer in all than the idle period, never idle for it
        // (client and server share this event loop, so a stall would have to exceed 1.25 s to matter).
        let n = 0;
        const tick = (): void => {
          req.write('ab');
          if (++n < 8) setTimeout(tick, 250);
          else req.end();
        };
        tick();
      });
      assert.equal(r, 200);
      assert.equal(await fs.readFile(path.join(t.storageDir, 'slow', 'trickle.bin'), 'utf8'), 'ab'.repeat(8));
    });

    it('a chunked PUT without Content-Length is capped by counting (EntityTooLarge) and leaves nothing', async () => {
      t = await startTestServer({ maxObjectBytes: 1024 * 1024 });
      await t.client().send(new CreateBucketCommand({ Bucket: 'cap' }));
      const url = new URL(t.server.storageEndpoint);
      const signer = new SignatureV4({ credentials: t.admin, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
      const put = async (key: string, bytes: number): Promise<Reply> => {
        const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: `${url.pathname}/cap/${key}`,
          headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
        return new Promise((resolve, reject) => {
          const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path: signed.path, headers: { ...signed.headers, 'transfer-encoding': 'chunked' } }, (res) => {
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
          });
          // The server may answer and close before all of it is sent.
          req.on('error', (e) => reject(e));
          const chunk = Buffer.alloc(64 * 1024, 7);
          let sent = 0;
          const pump = (): void => {
            while (sent < bytes) {
              sent += chunk.length;
              if (!req.write(chunk)) return void req.once('drain', pump);
            }
            req.end();
          };
          pump();
        });
      };
      const ok = await put('fits.bin', 1024 * 1024);
      assert.equal(ok.status, 200, ok.text);
      const big = await put('toobig.bin', 2 * 1024 * 1024);
      assert.equal(big.status, 400, big.text);
      assert.equal(code(big.text), 'EntityTooLarge');
      await assert.rejects(fs.access(path.join(t.storageDir, 'cap', 'toobig.bin')));
      assert.deepEqual(await fs.readdir(path.join(t.storageDir, '.cloudtrain', 'tmp')), []);
    });
  });
});
