import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { ObjectStore } from '../../../src/server/s3/store';
import { TestServer, startTestServer } from './helpers';

describe('S3 multipart uploads (low-level)', () => {
  let t: TestServer;
  beforeEach(async () => {
    t = await startTestServer();
    await t.client().send(new CreateBucketCommand({ Bucket: 'mpu' }));
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('assembles parts sent out of order, of uneven sizes, and retried', async () => {
    const s3 = t.client();
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'k/obj.bin', ContentType: 'application/x-test' }));
    const p1 = randomBytes(300_000);
    const p2 = randomBytes(700_000); // larger than part 1: cannot share part 1's slot
    const p3 = randomBytes(1000);
    // The last part first, then 2, then 1 sent twice (a retry).
    const e3 = (await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'k/obj.bin', UploadId, PartNumber: 3, Body: p3 }))).ETag!;
    const e2 = (await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'k/obj.bin', UploadId, PartNumber: 2, Body: p2 }))).ETag!;
    await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'k/obj.bin', UploadId, PartNumber: 1, Body: randomBytes(300_000) }));
    const e1 = (await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'k/obj.bin', UploadId, PartNumber: 1, Body: p1 }))).ETag!;
    // Nothing is visible before completion.
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'k/obj.bin' })), (e: Error) => e.name === 'NoSuchKey');
    await assert.rejects(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'k/obj.bin', UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 2, ETag: e2 }, { PartNumber: 1, ETag: e1 }] } })), (e: Error) => e.name === 'InvalidPartOrder');
    await assert.rejects(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'k/obj.bin', UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e2 }] } })), (e: Error) => e.name === 'InvalidPart');
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'k/obj.bin', UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: e3 }] } }));
    assert.match(done.ETag!, /-3"$/);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'k/obj.bin' }));
    assert.equal(got.ContentType, 'application/x-test');
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat([p1, p2, p3])));
    assert.deepEqual(await fs.readdir(path.join(t.storageDir, '.cloudtrain', 'uploads')), []);
  });

  it('abort discards the parts and the upload id', async () => {
    const s3 = t.client();
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'gone.bin' }));
    const { ETag } = await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'gone.bin', UploadId, PartNumber: 1, Body: randomBytes(1000) }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'gone.bin', UploadId }));
    assert.deepEqual(await fs.readdir(path.join(t.storageDir, '.cloudtrain', 'uploads')), []);
    await assert.rejects(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'gone.bin', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } })),
      (e: Error) => e.name === 'NoSuchUpload');
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'gone.bin' })), (e: Error) => e.name === 'NoSuchKey');
  });

  it('drops multipart uploads abandoned for a week when the store starts', async () => {
    const s3 = t.client();
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'old.bin' }));
    const dir = path.join(t.storageDir, '.cloudtrain', 'uploads', UploadId!);
    const old = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    await fs.utimes(dir, old, old);
    await new ObjectStore(t.storageDir).init();
    await assert.rejects(fs.access(dir));
  });

  it('refuses an upload id used for another key or job', async () => {
    const admin = t.client();
    const { UploadId } = await admin.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'jobs/a/x.bin' }));
    await assert.rejects(admin.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'jobs/a/y.bin', UploadId, PartNumber: 1, Body: 'x' })), (e: Error) => e.name === 'NoSuchUpload');
    const jobB = t.client(await t.credentials.mintJobCredentials({ jobId: 'b', bucket: 'mpu', prefix: 'jobs/b/', ttlSeconds: 60 }));
    await assert.rejects(jobB.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'jobs/a/x.bin', UploadId, PartNumber: 1, Body: 'x' })), (e: Error) => e.name === 'AccessDenied');
  });
});
