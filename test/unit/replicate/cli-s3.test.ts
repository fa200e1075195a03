import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { main } from '../../../src/cli/main';
import { submitCommand } from '../../../src/cli/commands/submit';
import { buildPackage } from '../../../src/core/packaging';
import type { Packager } from '../../../src/core/submit/steps';
import { FakeReplicate } from '../../support/replicate-server/server';
import type { TrainerImage } from '../../support/replicate-server/cog-trainer';
import { capturedIo } from '../../support/captured-io';
import { ADMIN, startTestServer, type TestServer } from '../server/helpers';

const EXAMPLE = path.resolve(__dirname, '../../../examples/simpletuner-demo');
const READ = { accessKeyId: 'TESTREADONLYKEY', secretAccessKey: 'read-only-secret-9876543210' };

/** SimpleTuner's aws backend, as far as the stand-in needs it: list the prefix with the entry's keys, read each image's .txt caption. */
async function readAws(entry: Record<string, unknown>): Promise<TrainerImage[]> {
  const s3 = new S3Client({
    endpoint: String(entry.aws_endpoint_url), region: String(entry.aws_region_name), forcePathStyle: true, maxAttempts: 1,
    credentials: { accessKeyId: String(entry.aws_access_key_id), secretAccessKey: String(entry.aws_secret_access_key) },
  });
  try {
    const list = await s3.send(new ListObjectsV2Command({ Bucket: String(entry.aws_bucket_name), Prefix: String(entry.aws_data_prefix) }));
    const out: TrainerImage[] = [];
    for (const k of (list.Contents ?? []).map((o) => o.Key!).filter((x) => /\.(png|jpe?g)$/i.test(x))) {
      const txt = await s3.send(new GetObjectCommand({ Bucket: String(entry.aws_bucket_name), Key: k.replace(/\.[^.]+$/, '.txt') }));
      out.push({ path: k, caption: (await txt.Body!.transformToString()).trim() });
    }
    return out;
  } finally {
    s3.destroy();
  }
}

describe('cloudtrain submit --provider replicate --data s3://… on your own S3 service (the real endpoint stands in for it)', function () {
  this.timeout(60_000);
  let server: FakeReplicate;
  let s3: TestServer;
  let home: string;
  beforeEach(async () => {
    server = new FakeReplicate();
    await server.start();
    server.readRemote = readAws;
    s3 = await startTestServer();
    // The user's service: a write key (ADMIN, all buckets) and a separate read-only key limited to datasets/team/.
    s3.credentials.setConfigured([ADMIN, { ...READ, bucket: 'datasets', prefix: 'team/', readOnly: true }]);
    await s3.client().send(new CreateBucketCommand({ Bucket: 'datasets' }));
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-replicate-cli-s3-'));
  });
  afterEach(async () => { await server.close(); await s3.dispose(); await fs.rm(home, { recursive: true, force: true }); });

  /** `viaMain`: through main(), which maps a UsageError to exit 2 (nothing is packaged before that). */
  async function cli(argv: string[], env: NodeJS.ProcessEnv = {}, viaMain = false) {
    const io = capturedIo({ env: { PATH: process.env.PATH, HOME: home, REPLICATE_BASE_URL: server.base, REPLICATE_API_TOKEN: server.token, ...env }, cwd: EXAMPLE, dataHome: home });
    const packager: Packager = { build: (r) => buildPackage({ ...r, outDir: path.join(r.cacheDir, 'packages'), onProgress: (p) => r.onProgress?.(p.message, p.fraction) }) };
    const code = argv[0] === 'submit' && !viaMain ? await submitCommand(argv.slice(1), io, { packager }) : await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  }
  const s3Args = () => ['submit', '--provider', 'replicate', '--config', 'config/config.json', '--data', 's3://datasets/team', '--data-endpoint', s3.server.storageEndpoint,
    '--data-key', ADMIN.accessKeyId, '--data-read-key', READ.accessKeyId, '--yes'];

  it('goes green: the datasets go up with the write key, the trainer reads every image and caption with only the read-only key', async () => {
    const sub = await cli(s3Args(), { AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, CLOUD_TRAINING_DATA_READ_SECRET_ACCESS_KEY: READ.secretAccessKey });
    assert.equal(sub.code, 0, sub.err);
    assert.match(sub.err, /Remote data \(S3\)/);
    assert.match(sub.err, new RegExp(`Your read-only key ${READ.accessKeyId}`));
    assert.ok(s3.stored.length >= 24, `12 images + 12 captions stored, got ${s3.stored.length}`);
    const run = [...server.runs.values()][0]!;
    const sent = JSON.parse(String(run.input.dataloader_json)) as Record<string, unknown>[];
    assert.equal(sent[0]!.type, 'aws');
    assert.equal(sent[0]!.aws_access_key_id, READ.accessKeyId);
    assert.equal(sent[0]!.aws_secret_access_key, READ.secretAccessKey);
    assert.ok(!JSON.stringify(run.input).includes(ADMIN.secretAccessKey), 'the write key\'s secret never goes to Replicate');
    assert.ok(!JSON.stringify(run.input).includes(ADMIN.accessKeyId), 'nor its id');
    // The key the trainer got cannot write (the service enforces it, not us).
    const reader = s3.client(READ);
    await assert.rejects(reader.send(new PutObjectCommand({ Bucket: 'datasets', Key: `${String(sent[0]!.aws_data_prefix)}x.png`, Body: 'x' })), /read-only|AccessDenied/);

    const logs = await cli(['logs', sub.out.trim().slice(0, 10), '--follow']);
    assert.equal(logs.code, 0, logs.err);
    assert.equal(run.trainer?.route, 'dataloader', run.trainerError);
    const dir = path.join(EXAMPLE, 'datasets/pixel-art');
    const meant = (await fs.readdir(dir)).filter((f) => f.endsWith('.txt')).map((f) => readFileSync(path.join(dir, f), 'utf8').trim()).sort();
    assert.deepEqual(run.trainer!.datasets.flatMap((d) => d.images.map((i) => String(i.caption))).sort(), meant, 'every image, captioned as the user meant');
    const jobs = JSON.parse((await cli(['jobs', '--json'])).out) as { status: string }[];
    assert.equal(jobs[0]!.status, 'succeeded');

    // Neither secret in what we printed or recorded.
    const recorded = await readTree(home);
    for (const secret of [ADMIN.secretAccessKey, READ.secretAccessKey]) {
      assert.ok(!sub.err.includes(secret) && !sub.out.includes(secret) && !logs.err.includes(secret), 'not printed');
      assert.ok(!recorded.includes(secret), 'not in the data home (history, settings, caches)');
    }
  });

  it('secrets from named env vars (--data-secret-env / --data-read-secret-env)', async () => {
    const sub = await cli([...s3Args(), '--data-secret-env', 'MY_WRITE', '--data-read-secret-env', 'MY_READ'], { MY_WRITE: ADMIN.secretAccessKey, MY_READ: READ.secretAccessKey });
    assert.equal(sub.code, 0, sub.err);
    const sent = JSON.parse(String([...server.runs.values()][0]!.input.dataloader_json)) as Record<string, unknown>[];
    assert.equal(sent[0]!.aws_secret_access_key, READ.secretAccessKey);
  });

  it('a bucket that does not exist fails with the bucket\'s reason (not "cannot reach Replicate"), nothing started, no secret shown', async () => {
    const args = s3Args().map((a) => (a === 's3://datasets/team' ? 's3://nobucket/team' : a));
    const sub = await cli(args, { AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, CLOUD_TRAINING_DATA_READ_SECRET_ACCESS_KEY: READ.secretAccessKey });
    assert.equal(sub.code, 1, sub.err);
    assert.match(sub.err, /Putting dataset pixel-art in http:\/\/127\.0\.0\.1:\d+\/\S*nobucket failed: The specified bucket does not exist\. Nothing was started on Replicate\./);
    assert.doesNotMatch(sub.err, /cannot reach Replicate/);
    assert.ok(!sub.err.includes(ADMIN.secretAccessKey) && !sub.err.includes(READ.secretAccessKey));
    assert.equal(server.runs.size, 0);
  });

  it('--data-fallback s3://… is only used when the archive route does not fit (this example fits it)', async () => {
    const args = ['submit', '--provider', 'replicate', '--config', 'config/config.json', '--data-fallback', 's3://datasets/team', '--data-endpoint', s3.server.storageEndpoint,
      '--data-key', ADMIN.accessKeyId, '--data-read-key', READ.accessKeyId, '--yes'];
    const sub = await cli(args, { AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, CLOUD_TRAINING_DATA_READ_SECRET_ACCESS_KEY: READ.secretAccessKey });
    assert.equal(sub.code, 0, sub.err);
    assert.match(sub.err, /Data route: Archive:/);
    assert.equal([...server.runs.values()][0]!.input.dataloader_json, '');
    assert.equal(s3.stored.length, 0, 'nothing put in the bucket');
    for (const [extra, re] of [
      [['--data', 'archive', '--data-fallback', 's3://datasets/team'], /--data-fallback is for --data auto/],
      [['--data-fallback', 'archive'], /--data-fallback expects s3:\/\/bucket\/prefix or hf:owner\/dataset/],
      [['--data-fallback', 'hf:me/data', '--data-endpoint', 'http://127.0.0.1:1'], /--data-endpoint is for --data s3:\/\/bucket\/prefix/],
    ] as [string[], RegExp][]) {
      const bad = await cli(['submit', '--provider', 'replicate', '--config', 'config/config.json', ...extra, '--yes'], {}, true);
      assert.equal(bad.code, 2, extra.join(' '));
      assert.match(bad.err, re);
    }
  });

  it('a missing secret exits 2 naming the env var, before anything is packaged or uploaded', async () => {
    const cases: [NodeJS.ProcessEnv, string[], RegExp][] = [
      [{ AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey }, [], /--data-read-key TESTREADONLYKEY is read from the environment variable CLOUD_TRAINING_DATA_READ_SECRET_ACCESS_KEY, which is not set/],
      [{ CLOUD_TRAINING_DATA_READ_SECRET_ACCESS_KEY: READ.secretAccessKey }, [], /--data-key TESTADMINKEY is read from the environment variable AWS_SECRET_ACCESS_KEY, which is not set/],
      [{ AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, CLOUD_TRAINING_DATA_READ_SECRET_ACCESS_KEY: READ.secretAccessKey }, ['--data-read-secret-env', 'NOPE_READ'], /environment variable NOPE_READ, which is not set/],
      [{ AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey }, ['--data-read-secret-env', 'not a name'], /--data-read-secret-env expects the name of an environment variable/],
    ];
    for (const [env, extra, re] of cases) {
      const sub = await cli([...s3Args(), ...extra], env, true);
      assert.equal(sub.code, 2, sub.err);
      assert.match(sub.err, re);
      for (const v of Object.values(env)) assert.ok(!sub.err.includes(String(v)), 'no secret in the message');
    }
    const same = await cli([...s3Args().slice(0, -3), '--data-read-key', ADMIN.accessKeyId, '--yes'], { AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey }, true);
    assert.equal(same.code, 2);
    assert.match(same.err, /must be a separate read-only key/);
    assert.equal(s3.stored.length, 0);
    assert.equal(server.runs.size, 0);
  });
});

async function readTree(dir: string): Promise<string> {
  let all = '';
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) all += await readTree(p);
    else if (!e.name.endsWith('.zip')) all += await fs.readFile(p, 'utf8').catch(() => '');
  }
  return all;
}
