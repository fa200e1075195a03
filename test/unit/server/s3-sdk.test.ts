import assert from 'node:assert/strict';
import { createReadStream, promises as fs } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import {
  CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsV2Command,
  PutObjectCommand, S3ServiceException, paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { TestServer, startTestServer } from './helpers';

describe('S3 endpoint with @aws-sdk/client-s3', function () {
  let t: TestServer;
  beforeEach(async () => {
    t = await startTestServer();
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('creates a bucket, puts, gets, heads, lists buckets and deletes an object', async () => {
    const s3 = t.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'outputs' }));
    const put = await s3.send(new PutObjectCommand({ Bucket: 'outputs', Key: 'job1/model.safetensors', Body: 'hello weights', ContentType: 'text/plain', Metadata: { step: '100' } }));
    assert.equal(put.ETag, `"${createHash('md5').update('hello weights').digest('hex')}"`);
    assert.equal(await fs.readFile(path.join(t.storageDir, 'outputs', 'job1', 'model.safetensors'), 'utf8'), 'hello weights');

    const got = await s3.send(new GetObjectCommand({ Bucket: 'outputs', Key: 'job1/model.safetensors' }));
    assert.equal(await got.Body!.transformToString(), 'hello weights');
    assert.equal(got.ContentType, 'text/plain');
    assert.equal(got.Metadata?.step, '100');

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'outputs', Key: 'job1/model.safetensors' }));
    assert.equal(head.ContentLength, 13);

    const buckets = await s3.send(new ListBucketsCommand({}));
    assert.deepEqual(buckets.Buckets?.map((b) => b.Name), ['outputs']);

    assert.equal(t.stored.length, 1);
    assert.equal(t.stored[0]!.key, 'job1/model.safetensors');
    assert.equal(t.stored[0]!.size, 13);

    await s3.send(new DeleteObjectCommand({ Bucket: 'outputs', Key: 'job1/model.safetensors' }));
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'outputs', Key: 'job1/model.safetensors' })), (e: S3ServiceException) => e.$metadata.httpStatusCode === 404);
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'outputs', Key: 'job1/model.safetensors' })), (e: Error) => e.name === 'NoSuchKey');
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'nobucket', Key: 'x' })), (e: Error) => e.name === 'NoSuchBucket');
  });

  it('streams a put whose body is a file stream (aws-chunked with a CRC32 trailer)', async () => {
    const s3 = t.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'bk1' }));
    const src = path.join(t.dir, 'src.bin');
    const data = randomBytes(300_000);
    await fs.writeFile(src, data);
    await s3.send(new PutObjectCommand({ Bucket: 'bk1', Key: 'f.bin', Body: createReadStream(src), ContentLength: data.length }));
    assert.ok((await fs.readFile(path.join(t.storageDir, 'bk1', 'f.bin'))).equals(data));
  });

  it('uploads a file larger than the part size as a multipart upload and reads ranges back', async () => {
    const s3 = t.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'big' }));
    const src = path.join(t.dir, 'big.bin');
    const data = randomBytes(5 * 1024 * 1024 * 2 + 12345);
    await fs.writeFile(src, data);
    const parts: number[] = [];
    const up = new Upload({ client: s3, params: { Bucket: 'big', Key: 'ckpt/big.bin', Body: createReadStream(src) }, partSize: 5 * 1024 * 1024, queueSize: 3 });
    up.on('httpUploadProgress', (p) => parts.push(p.part ?? 0));
    const res = await up.done();
    assert.match(res.ETag ?? '', /-3"$/, 'a multipart ETag for 3 parts');
    const stored = await fs.readFile(path.join(t.storageDir, 'big', 'ckpt', 'big.bin'));
    assert.equal(stored.length, data.length);
    assert.ok(stored.equals(data));
    assert.ok(Math.max(...parts) === 3);
    // No leftovers of the upload.
    assert.deepEqual(await fs.readdir(path.join(t.storageDir, '.cloudtrain', 'uploads')), []);

    const r1 = await s3.send(new GetObjectCommand({ Bucket: 'big', Key: 'ckpt/big.bin', Range: 'bytes=100-199' }));
    assert.equal(r1.ContentRange, `bytes 100-199/${data.length}`);
    assert.ok(Buffer.from(await r1.Body!.transformToByteArray()).equals(data.subarray(100, 200)));
    const r2 = await s3.send(new GetObjectCommand({ Bucket: 'big', Key: 'ckpt/big.bin', Range: 'bytes=-10' }));
    assert.ok(Buffer.from(await r2.Body!.transformToByteArray()).equals(data.subarray(data.length - 10)));
    const r3 = await s3.send(new GetObjectCommand({ Bucket: 'big', Key: 'ckpt/big.bin', Range: `bytes=${data.length - 5}-` }));
    assert.equal((await r3.Body!.transformToByteArray()).length, 5);
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'big', Key: 'ckpt/big.bin', Range: `bytes=${data.length}-` })), (e: Error) => e.name === 'InvalidRange');
  });

  it('lists with prefix, delimiter and pagination', async () => {
    const s3 = t.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'list' }));
    const keys = ['a/1.txt', 'a/2.txt', 'a/sub/3.txt', 'b/4.txt', 'top.txt', 'a/3 space+plus.txt'];
    for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: 'list', Key: k, Body: k }));

    const pages: string[][] = [];
    for await (const page of paginateListObjectsV2({ client: s3, pageSize: 2 }, { Bucket: 'list', Prefix: 'a/' })) {
      pages.push((page.Contents ?? []).map((o) => o.Key!));
    }
    assert.deepEqual(pages.flat(), ['a/1.txt', 'a/2.txt', 'a/3 space+plus.txt', 'a/sub/3.txt']);
    assert.equal(pages.length, 2);

    const grouped = await s3.send(new ListObjectsV2Command({ Bucket: 'list', Delimiter: '/' }));
    assert.deepEqual(grouped.CommonPrefixes?.map((p) => p.Prefix), ['a/', 'b/']);
    assert.deepEqual(grouped.Contents?.map((o) => o.Key), ['top.txt']);
    assert.equal(grouped.Contents?.[0]?.Size, 7);

    // Pagination across common prefixes never repeats one.
    const seen: string[] = [];
    let token: string | undefined;
    for (let i = 0; i < 10; i++) {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: 'list', Delimiter: '/', MaxKeys: 1, ContinuationToken: token }));
      seen.push(...(r.CommonPrefixes ?? []).map((p) => p.Prefix!), ...(r.Contents ?? []).map((o) => o.Key!));
      if (!r.IsTruncated) break;
      token = r.NextContinuationToken;
    }
    assert.deepEqual(seen, ['a/', 'b/', 'top.txt']);
  });

  it('serves presigned GET and PUT URLs and refuses an expired or altered one', async () => {
    const s3 = t.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'pre' }));
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'pre', Key: 'dir/file name.txt' }), { expiresIn: 60 });
    const putRes = await fetch(putUrl, { method: 'PUT', body: 'presigned body' });
    assert.equal(putRes.status, 200, await putRes.text());
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'pre', Key: 'dir/file name.txt' }), { expiresIn: 60 });
    const getRes = await fetch(getUrl);
    assert.equal(await getRes.text(), 'presigned body');

    const altered = getUrl.replace('file%20name', 'other%20name');
    const bad = await fetch(altered);
    assert.equal(bad.status, 403);
    assert.match(await bad.text(), /<Code>SignatureDoesNotMatch<\/Code>/);

    const past = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'pre', Key: 'dir/file name.txt' }), { expiresIn: 1, signingDate: new Date(Date.now() - 10_000) });
    const expired = await fetch(past);
    assert.equal(expired.status, 403);
    assert.match(await expired.text(), /<Code>AccessDenied<\/Code><Message>Request has expired/);
  });
});
