import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { redeliverJob, RESULTS_DESTINATION_KEY } from '../../../src/core/destinations/job-delivery';
import { s3SecretName, type SecretLookup } from '../../../src/core/destinations/schema';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { newJob } from '../../../src/core/jobs/factory';
import type { Job } from '../../../src/core/jobs/schema';
import { dataLayout } from '../../../src/core/paths';
import { LocalProvider } from '../../../src/providers/local/provider';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import { tempDir } from '../../support/tmp';
import { startTestServer, type TestServer } from '../server/helpers';

const EXAMPLE = path.resolve(__dirname, '../../../examples/simpletuner-demo');
const DEMO = 'DEMO_STEP_SECONDS=0.002 python3 train_demo.py --config {config} --output_dir {output_dir}';
const BUCKET = 'team-models';

/**
 * Results delivery of jobs whose outputs are on this machine (F13), end to end: a real local job (the
 * demo trainer), the real job monitor finalising it, and the repository's own S3-compatible server as
 * the external destination, read back with @aws-sdk/client-s3.
 */
describe('results delivery of local jobs to S3', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let s3: TestServer;
  let stored: Map<string, string>;
  let logs: string[];

  beforeEach(async () => {
    t = tempDir();
    s3 = await startTestServer();
    await fs.mkdir(path.join(s3.storageDir, BUCKET), { recursive: true });
    stored = new Map([[s3SecretName(s3.admin.accessKeyId), s3.admin.secretAccessKey]]);
    logs = [];
  });
  afterEach(async () => {
    await s3.dispose();
    t.cleanup();
  });

  /** SecretStorage stand-in: what "Set S3 Secret Key" stored. */
  const secrets: SecretLookup = async (name) => stored.get(name);

  function setup() {
    const layout = dataLayout(t.dir);
    const history = new JobHistory(layout.historyDir);
    const providers = new ProviderRegistry();
    providers.register('local', () => new LocalProvider({ jobsDir: layout.jobsDir, secrets, env: {} }));
    const monitor = new JobMonitor(history, providers, { dataHome: t.dir, intervalMs: 100, log: (l) => logs.push(l) });
    return { layout, history, providers, monitor };
  }
  type Setup = ReturnType<typeof setup>;

  const destination = (over: Record<string, unknown> = {}) => ({
    kind: 's3', endpoint: s3.server.storageEndpoint, bucket: BUCKET, prefix: 'loras', accessKeyId: s3.admin.accessKeyId, ...over,
  });

  async function submit(s: Setup, command: string, results: unknown, trainingConfig?: string): Promise<Job> {
    const job = await s.history.add(newJob(s.layout, { provider: 'local', trainingConfig }));
    const r = await s.providers.get('local').submit(job, { command, cwd: EXAMPLE, trainingConfigPath: trainingConfig, options: { results } }, { dataHome: s.layout.home });
    return (await s.history.update(job.id, (j) => ({ ...j, providerJobId: r.providerJobId, status: r.status, metadata: { ...j.metadata, ...r.metadata }, startedAt: r.startedAt })))!;
  }

  async function untilFinalized(s: Setup, id: string, ms = 40_000): Promise<Job> {
    const deadline = Date.now() + ms;
    for (;;) {
      const j = (await s.history.get(id))!;
      if (j.metadata.finalized === true) return j;
      if (Date.now() > deadline) throw new Error(`timed out; job is ${JSON.stringify({ status: j.status, error: j.error })}`);
      await s.monitor.refresh(j);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function listKeys(prefix: string): Promise<string[]> {
    const r = await s3.client().send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (r.Contents ?? []).map((o) => o.Key!).sort();
  }

  async function localFiles(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
    }
    return out.sort();
  }

  it('a succeeded demo-trainer job has its output folder delivered to the S3 destination', async () => {
    const s = setup();
    const job = await submit(s, DEMO, destination(), path.join(EXAMPLE, 'config/config.json'));
    assert.deepEqual(job.metadata[RESULTS_DESTINATION_KEY], { ...destination(), region: 'us-east-1', forcePathStyle: true }, 'the destination (no secret) is on the job');
    assert.ok(!JSON.stringify(job).includes(s3.admin.secretAccessKey), 'no secret in the job record');

    const done = await untilFinalized(s, job.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.metadata.deliveryError, undefined, String(done.metadata.deliveryError));
    assert.equal(typeof done.metadata.deliveredAt, 'string');
    assert.equal(done.statusDetail, undefined);

    const outputDir = done.metadata.outputDir as string;
    const files = await localFiles(outputDir);
    assert.ok(files.includes('pytorch_lora_weights.json') && files.some((f) => f.startsWith('checkpoint-')), files.join(', '));
    const prefix = `loras/${job.id}/`;
    assert.deepEqual(await listKeys(prefix), files.map((f) => prefix + f), 'every output file, under <prefix>/<job id>/');
    const got = await s3.client().send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}pytorch_lora_weights.json` }));
    const remote = await got.Body!.transformToString();
    assert.equal(remote, await fs.readFile(path.join(outputDir, 'pytorch_lora_weights.json'), 'utf8'));
    assert.equal(JSON.parse(remote).steps, 120);

    const s3Out = done.outputs.find((o) => o.kind === 's3');
    assert.ok(s3Out, JSON.stringify(done.outputs));
    assert.equal(s3Out.uri, `${s3.server.storageEndpoint}/${BUCKET}/${prefix}`);
    assert.ok(done.outputs.some((o) => o.kind === 'directory' && o.uri === outputDir), 'the local folder stays an output');
    assert.ok(!JSON.stringify(await s.history.list()).includes(s3.admin.secretAccessKey), 'no secret in the history');
    assert.ok(!logs.join('\n').includes(s3.admin.secretAccessKey), 'no secret in the logs');
    s.monitor.dispose();
  });

  it('wrong credentials: the job still succeeded with its outputs, the failure is recorded, and a retry delivers', async () => {
    const s = setup();
    stored.set(s3SecretName(s3.admin.accessKeyId), 'not-the-secret-key-0000');
    const job = await submit(s, 'mkdir -p "$CLOUD_TRAINING_OUTPUT_DIR/sub" && echo weights > {output_dir}/model.safetensors && echo cfg > {output_dir}/sub/config.json', destination());
    const done = await untilFinalized(s, job.id);
    assert.equal(done.status, 'succeeded', 'a delivery failure does not fail the job');
    assert.equal(done.error, undefined);
    assert.match(String(done.metadata.deliveryError), /Delivering the outputs to s3:\/\/team-models\/loras\/.* failed: .*(signature|SignatureDoesNotMatch)/i);
    assert.ok(!String(done.metadata.deliveryError).includes('not-the-secret-key-0000'));
    assert.match(done.statusDetail ?? '', /Results not delivered to s3:\/\/team-models\/loras/);
    assert.ok(logs.some((l) => l.includes('cloudtrain deliver')), 'the log says how to retry');
    // The outputs are where they were, and still listed on the job.
    const outputDir = done.metadata.outputDir as string;
    assert.deepEqual(await localFiles(outputDir), ['model.safetensors', 'sub/config.json']);
    assert.ok(done.outputs.some((o) => o.kind === 'directory' && o.uri === outputDir));
    assert.equal(done.outputs.some((o) => o.kind === 's3'), false);
    assert.deepEqual(await listKeys(''), [], 'nothing reached the bucket');

    // Finalised once: another poll does not try again by itself…
    await s.monitor.refresh(done);
    assert.deepEqual(await listKeys(''), []);
    // …the retry does, once the right key is stored, and clears the failure.
    stored.set(s3SecretName(s3.admin.accessKeyId), s3.admin.secretAccessKey);
    const { job: after, outcome } = await redeliverJob({ history: s.history, jobId: job.id.slice(0, 12), deps: { secrets, env: {} } });
    assert.equal(outcome.delivered, true, outcome.error);
    assert.deepEqual(await listKeys(''), [`loras/${job.id}/model.safetensors`, `loras/${job.id}/sub/config.json`]);
    assert.equal(after.metadata.deliveryError, undefined);
    assert.equal(after.statusDetail, undefined);
    assert.ok(after.outputs.some((o) => o.kind === 's3'));
  });

  it('does not deliver a failed job, and says clearly when the command wrote nothing to {output_dir}', async () => {
    const s = setup();
    const failing = await submit(s, 'echo weights > {output_dir}/model.safetensors; exit 2', destination());
    const failed = await untilFinalized(s, failing.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.metadata.deliveryError, undefined);
    assert.deepEqual(await listKeys(''), [], 'a failed job\'s outputs are not published');
    await assert.rejects(redeliverJob({ history: s.history, jobId: failing.id, deps: { secrets, env: {} } }), /is failed: only the outputs of a succeeded job/);

    const elsewhere = await submit(s, `echo weights > "${t.dir}/somewhere-else.bin"`, destination());
    const done = await untilFinalized(s, elsewhere.id);
    assert.equal(done.status, 'succeeded');
    assert.match(String(done.metadata.deliveryError), /has no files: the training command must write its results to \{output_dir\}/);
    assert.deepEqual(await listKeys(''), []);
  });

  it('refuses to start when the destination\'s secret is missing or the destination is invalid', async () => {
    const s = setup();
    stored.clear();
    await assert.rejects(submit(s, 'true', destination()), /Results destination s3:\/\/team-models\/loras\/ .*No secret key stored for S3 access key TESTADMINKEY/);
    await assert.rejects(submit(s, 'true', { kind: 's3', bucket: 'x' }), /Invalid results destination: bucket/);
    await assert.rejects(submit(s, 'true', { kind: 'huggingface', repoId: 'me/lora' }), /No HuggingFace token/);
    // "local" keeps the outputs here: accepted, nothing to push.
    const kept = await submit(s, 'echo w > {output_dir}/w.bin', { kind: 'local' });
    const done = await untilFinalized(s, kept.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.metadata.deliveryError, undefined);
    assert.equal(done.metadata.deliveredAt, undefined);
  });
});
