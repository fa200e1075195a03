import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestServer, startTestServer } from './helpers';

const run = promisify(execFile);
// pyenv's shim may shadow Debian's awscli (and fail without a pyenv version); prefer the real one.
const AWS = existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws';

describe('S3 endpoint with the awscli (Debian awscli)', function () {
  this.timeout(90_000);
  let t: TestServer;
  let env: NodeJS.ProcessEnv;

  const aws = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(AWS, ['--endpoint-url', t.server.storageEndpoint, ...args], { env, timeout: 60_000 });
    return stdout;
  };

  beforeEach(async () => {
    t = await startTestServer();
    const cfg = path.join(t.dir, 'aws-config');
    await fs.writeFile(cfg, '[default]\ns3 =\n  addressing_style = path\n');
    env = {
      PATH: process.env.PATH, HOME: t.dir, AWS_CONFIG_FILE: cfg, AWS_SHARED_CREDENTIALS_FILE: path.join(t.dir, 'none'),
      AWS_ACCESS_KEY_ID: t.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: t.admin.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '',
    };
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('cp, ls and sync (both ways), including a multipart upload', async () => {
    const src = path.join(t.dir, 'out');
    await fs.mkdir(path.join(src, 'checkpoints'), { recursive: true });
    await fs.writeFile(path.join(src, 'config.json'), '{"lr":1e-4}');
    await fs.writeFile(path.join(src, 'checkpoints', 'step 100.bin'), randomBytes(1000));
    const big = randomBytes(9 * 1024 * 1024 + 7); // above the CLI's 8 MiB multipart threshold
    await fs.writeFile(path.join(src, 'model.safetensors'), big);

    await aws('s3', 'mb', 's3://results');
    await aws('s3', 'cp', path.join(src, 'config.json'), 's3://results/single/config.json');
    assert.equal(await fs.readFile(path.join(t.storageDir, 'results', 'single', 'config.json'), 'utf8'), '{"lr":1e-4}');

    await aws('s3', 'sync', src, 's3://results/job-1/');
    const stored = await fs.readFile(path.join(t.storageDir, 'results', 'job-1', 'model.safetensors'));
    assert.ok(stored.equals(big));

    const ls = await aws('s3', 'ls', '--recursive', 's3://results/job-1/');
    const keys = ls.trim().split('\n').map((l) => l.trim().split(/\s+/).slice(3).join(' ')).sort();
    assert.deepEqual(keys, ['job-1/checkpoints/step 100.bin', 'job-1/config.json', 'job-1/model.safetensors']);
    assert.match(await aws('s3', 'ls'), /results/);
    assert.match(await aws('s3', 'ls', 's3://results/'), /PRE job-1\//);

    // A second sync finds nothing to do.
    const again = await run(AWS, ['--endpoint-url', t.server.storageEndpoint, 's3', 'sync', src, 's3://results/job-1/'], { env, timeout: 60_000 });
    assert.doesNotMatch(again.stdout, /upload:/);

    const back = path.join(t.dir, 'back');
    await aws('s3', 'sync', 's3://results/job-1/', back);
    assert.ok((await fs.readFile(path.join(back, 'model.safetensors'))).equals(big));
    assert.ok((await fs.readFile(path.join(back, 'checkpoints', 'step 100.bin'))).equals(await fs.readFile(path.join(src, 'checkpoints', 'step 100.bin'))));

    const dl = path.join(t.dir, 'dl.json');
    await aws('s3', 'cp', 's3://results/single/config.json', dl);
    assert.equal(await fs.readFile(dl, 'utf8'), '{"lr":1e-4}');
    await aws('s3', 'rm', '--recursive', 's3://results/job-1/');
    assert.equal((await aws('s3', 'ls', '--recursive', 's3://results/')).trim().split('\n').length, 1);
  });

  it('ETags are MD5s as S3 defines them, and flexible checksums from the CLI verify', async () => {
    const big = randomBytes(9 * 1024 * 1024 + 11); // two parts at the CLI's 8 MiB chunk size
    const file = path.join(t.dir, 'big.bin');
    await fs.writeFile(file, big);
    await aws('s3', 'mb', 's3://tags');
    await aws('s3', 'cp', file, 's3://tags/big.bin');
    const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();
    const parts = [big.subarray(0, 8 * 1024 * 1024), big.subarray(8 * 1024 * 1024)];
    const expected = `"${createHash('md5').update(Buffer.concat(parts.map(md5))).digest('hex')}-2"`;
    assert.equal(JSON.parse(await aws('s3api', 'head-object', '--bucket', 'tags', '--key', 'big.bin')).ETag, expected);
    const small = path.join(t.dir, 'small.txt');
    await fs.writeFile(small, 'checksummed');
    for (const alg of ['CRC32', 'CRC32C', 'SHA1', 'SHA256']) {
      const put = JSON.parse(await aws('s3api', 'put-object', '--bucket', 'tags', '--key', `sum-${alg}.txt`, '--body', small, '--checksum-algorithm', alg));
      assert.equal(put.ETag, `"${md5(Buffer.from('checksummed')).toString('hex')}"`, alg);
    }
  });

  it('job credentials work with the CLI inside their prefix and are refused outside it', async () => {
    const job = await t.credentials.mintJobCredentials({ jobId: 'j1', bucket: 'results', prefix: 'jobs/j1/', ttlSeconds: 600 });
    const jobEnv = { ...env, AWS_ACCESS_KEY_ID: job.accessKeyId, AWS_SECRET_ACCESS_KEY: job.secretAccessKey };
    const file = path.join(t.dir, 'weights.bin');
    await fs.writeFile(file, 'weights');
    await run(AWS, ['--endpoint-url', t.server.storageEndpoint, 's3', 'cp', file, 's3://results/jobs/j1/weights.bin'], { env: jobEnv });
    assert.equal(await fs.readFile(path.join(t.storageDir, 'results', 'jobs', 'j1', 'weights.bin'), 'utf8'), 'weights');
    await assert.rejects(run(AWS, ['--endpoint-url', t.server.storageEndpoint, 's3', 'cp', file, 's3://results/jobs/j2/weights.bin'], { env: jobEnv }),
      (e: { stderr: string }) => /AccessDenied/.test(e.stderr));
    await assert.rejects(run(AWS, ['--endpoint-url', t.server.storageEndpoint, 's3', 'cp', file, 's3://results/x.bin'],
      { env: { ...jobEnv, AWS_SECRET_ACCESS_KEY: 'wrong-secret-value' } }), (e: { stderr: string }) => /SignatureDoesNotMatch/.test(e.stderr));
  });
});
