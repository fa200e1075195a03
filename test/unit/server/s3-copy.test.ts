import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand, S3Client, UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { TestServer, startTestServer } from './helpers';

const run = promisify(execFile);
const AWS = existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';

const text = async (s3: S3Client, Bucket: string, Key: string): Promise<string> =>
  (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString();

/** `bucket/key` as clients put it in x-amz-copy-source: each segment URL-encoded. */
const copySource = (bucket: string, key: string): string => `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

describe('S3 CopyObject, UploadPartCopy, ListParts and ListMultipartUploads', function () {
  this.timeout(90_000);
  let t: TestServer;
  beforeEach(async () => {
    t = await startTestServer();
    await t.client().send(new CreateBucketCommand({ Bucket: 'results' }));
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('copies within a bucket and across prefixes, keeping or replacing metadata', async () => {
    const s3 = t.client();
    await s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'jobs/a/model v1.bin', Body: 'weights-a', ContentType: 'application/x-a', Metadata: { step: '100' } }));
    await s3.send(new CreateBucketCommand({ Bucket: 'archive' }));

    const same = await s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'jobs/a/copy.bin', CopySource: copySource('results', 'jobs/a/model v1.bin') }));
    // A copy of a single-part object keeps its MD5 ETag.
    assert.equal(same.CopyObjectResult?.ETag, (await s3.send(new HeadObjectCommand({ Bucket: 'results', Key: 'jobs/a/model v1.bin' }))).ETag);
    assert.ok(same.CopyObjectResult?.LastModified instanceof Date);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'results', Key: 'jobs/a/copy.bin' }));
    assert.equal(head.ContentType, 'application/x-a');
    assert.deepEqual(head.Metadata, { step: '100' });
    assert.equal(await text(s3, 'results', 'jobs/a/copy.bin'), 'weights-a');

    // Another prefix and another bucket, with a leading slash as some clients send it.
    await s3.send(new CopyObjectCommand({ Bucket: 'archive', Key: 'b/deep/model.bin', CopySource: `/${copySource('results', 'jobs/a/model v1.bin')}` }));
    assert.equal(await fs.readFile(path.join(t.storageDir, 'archive', 'b', 'deep', 'model.bin'), 'utf8'), 'weights-a');
    assert.ok(t.stored.some((e) => e.bucket === 'archive' && e.key === 'b/deep/model.bin'));

    // REPLACE takes the request's metadata, also in place (the one self-copy S3 allows).
    await s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'jobs/a/copy.bin', CopySource: copySource('results', 'jobs/a/copy.bin'),
      MetadataDirective: 'REPLACE', ContentType: 'text/plain', Metadata: { step: '200', note: 'best' } }));
    const replaced = await s3.send(new HeadObjectCommand({ Bucket: 'results', Key: 'jobs/a/copy.bin' }));
    assert.equal(replaced.ContentType, 'text/plain');
    assert.deepEqual(replaced.Metadata, { step: '200', note: 'best' });
    assert.equal(await text(s3, 'results', 'jobs/a/copy.bin'), 'weights-a');
    await assert.rejects(s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'jobs/a/copy.bin', CopySource: copySource('results', 'jobs/a/copy.bin') })),
      (e: Error) => e.name === 'InvalidRequest');

    // Preconditions on the source.
    const etag = replaced.ETag!;
    await s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'c1', CopySource: copySource('results', 'jobs/a/copy.bin'), CopySourceIfMatch: etag }));
    await assert.rejects(s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'c2', CopySource: copySource('results', 'jobs/a/copy.bin'), CopySourceIfMatch: '"nope"' })),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.name === 'PreconditionFailed' && e.$metadata?.httpStatusCode === 412);
    await assert.rejects(s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'c3', CopySource: copySource('results', 'jobs/a/copy.bin'), CopySourceIfNoneMatch: etag })),
      (e: Error) => e.name === 'PreconditionFailed');

    // Missing source object / bucket; versions are not kept.
    await assert.rejects(s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'x', CopySource: copySource('results', 'jobs/a/none.bin') })), (e: Error) => e.name === 'NoSuchKey');
    await assert.rejects(s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'x', CopySource: copySource('nobucket', 'k') })), (e: Error) => e.name === 'NoSuchBucket');
    await assert.rejects(s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'x', CopySource: `${copySource('results', 'c1')}?versionId=abc` })),
      (e: Error) => e.name === 'NotImplemented');
    await s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'c4', CopySource: `${copySource('results', 'c1')}?versionId=null` }));
    assert.equal(await text(s3, 'results', 'c4'), 'weights-a');
  });

  it('refuses a source outside the job credentials\' scope and traversal source keys', async () => {
    const admin = t.client();
    await admin.send(new PutObjectCommand({ Bucket: 'results', Key: 'jobs/other/secret.bin', Body: 'theirs' }));
    await admin.send(new PutObjectCommand({ Bucket: 'results', Key: 'jobs/j1/mine.bin', Body: 'mine' }));
    await fs.writeFile(path.join(t.storageDir, 'outside.txt'), 'not an object');
    const creds = await t.credentials.mintJobCredentials({ jobId: 'j1', bucket: 'results', prefix: 'jobs/j1/', ttlSeconds: 600 });
    const job = t.client(creds);

    await job.send(new CopyObjectCommand({ Bucket: 'results', Key: 'jobs/j1/copy.bin', CopySource: copySource('results', 'jobs/j1/mine.bin') }));
    assert.equal(await text(job, 'results', 'jobs/j1/copy.bin'), 'mine');
    // Reading another job's object, or writing outside its own prefix, is refused.
    await assert.rejects(job.send(new CopyObjectCommand({ Bucket: 'results', Key: 'jobs/j1/stolen.bin', CopySource: copySource('results', 'jobs/other/secret.bin') })),
      (e: Error) => e.name === 'AccessDenied');
    await assert.rejects(job.send(new CopyObjectCommand({ Bucket: 'results', Key: 'jobs/other/planted.bin', CopySource: copySource('results', 'jobs/j1/mine.bin') })),
      (e: Error) => e.name === 'AccessDenied');
    assert.equal(existsSync(path.join(t.storageDir, 'results', 'jobs', 'j1', 'stolen.bin')), false);
    assert.equal(existsSync(path.join(t.storageDir, 'results', 'jobs', 'other', 'planted.bin')), false);

    // Traversal in the source key, plain or percent-encoded, never reads outside the bucket.
    for (const src of ['results/jobs/j1/../../../outside.txt', 'results/jobs/j1/%2e%2e/%2e%2e/%2e%2e/outside.txt', 'results/jobs/j1/..%2F..%2F..%2Foutside.txt']) {
      for (const s3 of [job, admin]) {
        await assert.rejects(s3.send(new CopyObjectCommand({ Bucket: 'results', Key: 'jobs/j1/t.bin', CopySource: src })),
          (e: Error) => e.name === 'InvalidArgument', src);
      }
    }
    await assert.rejects(admin.send(new CopyObjectCommand({ Bucket: 'results', Key: 'x', CopySource: 'results' })), (e: Error) => e.name === 'InvalidArgument');
    assert.equal(existsSync(path.join(t.storageDir, 'results', 'jobs', 'j1', 't.bin')), false);
  });

  it('lists the parts of an upload in progress, page by page, and copies parts from objects', async () => {
    const s3 = t.client();
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'results', Key: 'big/model.bin' }));
    const parts = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024), randomBytes(1234)];
    const etags: string[] = [];
    for (const [i, Body] of parts.entries()) {
      etags.push((await s3.send(new UploadPartCommand({ Bucket: 'results', Key: 'big/model.bin', UploadId, PartNumber: i + 1, Body }))).ETag!);
    }
    const page1 = await s3.send(new ListPartsCommand({ Bucket: 'results', Key: 'big/model.bin', UploadId, MaxParts: 2 }));
    assert.equal(page1.IsTruncated, true);
    assert.deepEqual(page1.Parts!.map((p) => [p.PartNumber, p.ETag, p.Size]), [[1, etags[0], parts[0]!.length], [2, etags[1], parts[1]!.length]]);
    assert.equal(page1.NextPartNumberMarker, '2');
    assert.equal(page1.UploadId, UploadId);
    const page2 = await s3.send(new ListPartsCommand({ Bucket: 'results', Key: 'big/model.bin', UploadId, MaxParts: 2, PartNumberMarker: page1.NextPartNumberMarker }));
    assert.equal(page2.IsTruncated, false);
    assert.deepEqual(page2.Parts!.map((p) => [p.PartNumber, p.Size]), [[3, 1234]]);
    assert.ok(page2.Parts![0]!.LastModified instanceof Date);
    await assert.rejects(s3.send(new ListPartsCommand({ Bucket: 'results', Key: 'big/other.bin', UploadId })), (e: Error) => e.name === 'NoSuchUpload');

    // UploadPartCopy: part 4 is a range of an existing object.
    const source = randomBytes(100_000);
    await s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'src.bin', Body: source }));
    const copied = await s3.send(new UploadPartCopyCommand({ Bucket: 'results', Key: 'big/model.bin', UploadId, PartNumber: 4,
      CopySource: copySource('results', 'src.bin'), CopySourceRange: 'bytes=10-99999' }));
    await assert.rejects(s3.send(new UploadPartCopyCommand({ Bucket: 'results', Key: 'big/model.bin', UploadId, PartNumber: 5,
      CopySource: copySource('results', 'src.bin'), CopySourceRange: 'bytes=10-100000' })), (e: Error) => e.name === 'InvalidArgument');
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'results', Key: 'big/model.bin', UploadId, MultipartUpload: {
      Parts: [...etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })), { PartNumber: 4, ETag: copied.CopyPartResult!.ETag! }],
    } }));
    // (Part 3 is smaller than 5 MiB but not last: this endpoint does not enforce S3's minimum part size.)
    const stored = await fs.readFile(path.join(t.storageDir, 'results', 'big', 'model.bin'));
    assert.ok(stored.equals(Buffer.concat([...parts, source.subarray(10)])));
  });

  it('lists multipart uploads in progress with prefix and marker pagination', async () => {
    const s3 = t.client();
    const ids: Record<string, string> = {};
    for (const key of ['a/one.bin', 'a/two.bin', 'b/three.bin']) {
      ids[key] = (await s3.send(new CreateMultipartUploadCommand({ Bucket: 'results', Key: key }))).UploadId!;
    }
    const second = (await s3.send(new CreateMultipartUploadCommand({ Bucket: 'results', Key: 'a/one.bin' }))).UploadId!;
    const all = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'results' }));
    assert.equal(all.Uploads!.length, 4);
    assert.deepEqual(all.Uploads!.map((u) => u.Key), ['a/one.bin', 'a/one.bin', 'a/two.bin', 'b/three.bin']);
    assert.ok(all.Uploads!.every((u) => u.Initiated instanceof Date));
    assert.deepEqual(new Set(all.Uploads!.slice(0, 2).map((u) => u.UploadId)), new Set([ids['a/one.bin'], second]));

    const prefixed = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'results', Prefix: 'a/' }));
    assert.deepEqual(prefixed.Uploads!.map((u) => u.Key), ['a/one.bin', 'a/one.bin', 'a/two.bin']);

    // Page through one upload at a time with both markers.
    const seen: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'results', MaxUploads: 1, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      seen.push(...(page.Uploads ?? []).map((u) => u.UploadId!));
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
    assert.deepEqual(seen, all.Uploads!.map((u) => u.UploadId));

    const rolled = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'results', Delimiter: '/' }));
    assert.deepEqual(rolled.CommonPrefixes!.map((p) => p.Prefix), ['a/', 'b/']);

    // Job credentials see only their prefix; completed and aborted uploads are gone.
    const creds = await t.credentials.mintJobCredentials({ jobId: 'jb', bucket: 'results', prefix: 'b/', ttlSeconds: 600 });
    const job = t.client(creds);
    assert.deepEqual((await job.send(new ListMultipartUploadsCommand({ Bucket: 'results', Prefix: 'b/' }))).Uploads!.map((u) => u.Key), ['b/three.bin']);
    await assert.rejects(job.send(new ListMultipartUploadsCommand({ Bucket: 'results', Prefix: 'a/' })), (e: Error) => e.name === 'AccessDenied');
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'results', Key: 'a/one.bin', UploadId: second }));
    assert.equal((await s3.send(new ListMultipartUploadsCommand({ Bucket: 'results' }))).Uploads!.length, 3);
  });

  describe('with the awscli', () => {
    let env: NodeJS.ProcessEnv;
    const aws = async (...args: string[]): Promise<string> => {
      const { stdout } = await run(AWS, ['--endpoint-url', t.server.storageEndpoint, ...args], { env, timeout: 60_000 });
      return stdout;
    };
    beforeEach(async () => {
      const cfg = path.join(t.dir, 'aws-config');
      await fs.writeFile(cfg, '[default]\ns3 =\n  addressing_style = path\n');
      env = {
        PATH: process.env.PATH, HOME: t.dir, AWS_CONFIG_FILE: cfg, AWS_SHARED_CREDENTIALS_FILE: path.join(t.dir, 'none'),
        AWS_ACCESS_KEY_ID: t.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: t.admin.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '',
      };
    });

    it('aws s3 cp and mv between keys, small and multipart-sized', async () => {
      const file = path.join(t.dir, 'w.bin');
      await fs.writeFile(file, 'small weights');
      await aws('s3', 'cp', file, 's3://results/jobs/a/w.bin');
      await aws('s3', 'cp', 's3://results/jobs/a/w.bin', 's3://results/jobs/b/w copy.bin');
      assert.equal(await fs.readFile(path.join(t.storageDir, 'results', 'jobs', 'b', 'w copy.bin'), 'utf8'), 'small weights');
      await aws('s3', 'mv', 's3://results/jobs/b/w copy.bin', 's3://results/final/w.bin');
      assert.equal(await fs.readFile(path.join(t.storageDir, 'results', 'final', 'w.bin'), 'utf8'), 'small weights');
      assert.equal(existsSync(path.join(t.storageDir, 'results', 'jobs', 'b', 'w copy.bin')), false);

      // Above the CLI's 8 MiB threshold it copies with UploadPartCopy.
      const big = randomBytes(9 * 1024 * 1024 + 3);
      await fs.writeFile(file, big);
      await aws('s3', 'cp', file, 's3://results/jobs/a/big.bin');
      await aws('s3', 'mv', 's3://results/jobs/a/big.bin', 's3://results/final/big.bin');
      assert.ok((await fs.readFile(path.join(t.storageDir, 'results', 'final', 'big.bin'))).equals(big));
      assert.equal(existsSync(path.join(t.storageDir, 'results', 'jobs', 'a', 'big.bin')), false);
      const ls = await aws('s3', 'ls', '--recursive', 's3://results/');
      assert.deepEqual(ls.trim().split('\n').map((l) => l.trim().split(/\s+/).slice(3).join(' ')).sort(), ['final/big.bin', 'final/w.bin', 'jobs/a/w.bin']);
      // Nothing left in progress.
      const uploads = (await aws('s3api', 'list-multipart-uploads', '--bucket', 'results', '--output', 'json')).trim();
      assert.equal(uploads === '' ? undefined : JSON.parse(uploads).Uploads, undefined);
    });
  });
});
