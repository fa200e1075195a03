import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestServer, startTestServer } from './helpers';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

/** Driven by Debian's python3-boto3 (botocore 1.29): multipart ETags, flexible checksums, presigned URLs. */
const SCRIPT = String.raw`
import hashlib, json, os, sys, urllib.request, urllib.error
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

endpoint, key_id, secret, workdir = sys.argv[1:5]
s3 = boto3.client('s3', endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret, region_name='us-east-1',
                  config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
out = {}
s3.create_bucket(Bucket='boto')

data = os.urandom(12 * 1024 * 1024 + 3)
src = os.path.join(workdir, 'big.bin')
with open(src, 'wb') as f:
    f.write(data)
s3.upload_file(src, 'boto', 'runs/big.bin', Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=2))
parts = [data[i:i + 5 * 1024 * 1024] for i in range(0, len(data), 5 * 1024 * 1024)]
out['multipart_etag'] = s3.head_object(Bucket='boto', Key='runs/big.bin')['ETag']
out['multipart_expected'] = '"%s-%d"' % (hashlib.md5(b''.join(hashlib.md5(p).digest() for p in parts)).hexdigest(), len(parts))
got = s3.get_object(Bucket='boto', Key='runs/big.bin')['Body'].read()
out['roundtrip'] = got == data

small = b'weights' * 1000
out['put_etag'] = s3.put_object(Bucket='boto', Key='runs/small.bin', Body=small)['ETag']
out['put_expected'] = '"%s"' % hashlib.md5(small).hexdigest()
for alg in ('CRC32', 'CRC32C', 'SHA1', 'SHA256'):
    s3.put_object(Bucket='boto', Key='runs/sum-%s.bin' % alg, Body=small, ChecksumAlgorithm=alg)
out['checksums_ok'] = True

url = s3.generate_presigned_url('put_object', Params={'Bucket': 'boto', 'Key': 'runs/presigned.bin'}, ExpiresIn=60)
def put(url, headers):
    req = urllib.request.Request(url, data=b'presigned body', method='PUT', headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
out['presigned_copy'] = put(url, {'x-amz-copy-source': '/boto/runs/small.bin'})
out['presigned_plain'] = put(url, {})
print(json.dumps(out))
`;

describe('S3 endpoint with boto3 (Debian python3-boto3)', function () {
  this.timeout(120_000);
  let t: TestServer;
  before(async function () {
    try {
      await run(PYTHON, ['-c', 'import boto3']);
    } catch {
      this.skip(); // .ci/run installs python3-boto3
    }
  });
  beforeEach(async () => {
    t = await startTestServer();
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('multipart and single ETags are MD5s, checksums verify, presigned PUTs refuse unsigned x-amz headers', async () => {
    const script = path.join(t.dir, 'boto.py');
    await fs.writeFile(script, SCRIPT);
    const { stdout } = await run(PYTHON, [script, t.server.storageEndpoint, t.admin.accessKeyId, t.admin.secretAccessKey, t.dir], {
      env: { PATH: process.env.PATH, HOME: t.dir, AWS_CONFIG_FILE: path.join(t.dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: path.join(t.dir, 'none'), AWS_EC2_METADATA_DISABLED: 'true' },
      timeout: 100_000,
    });
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.equal(out.multipart_etag, out.multipart_expected);
    assert.equal(out.roundtrip, true);
    assert.equal(out.put_etag, out.put_expected);
    assert.equal(out.checksums_ok, true);
    assert.equal(out.presigned_copy[0], 403);
    assert.match(out.presigned_copy[1], /<HeadersNotSigned>x-amz-copy-source<\/HeadersNotSigned>/);
    assert.equal(out.presigned_plain[0], 200, out.presigned_plain[1]);
    assert.equal(await fs.readFile(path.join(t.storageDir, 'boto', 'runs', 'presigned.bin'), 'utf8'), 'presigned body');
  });
});
