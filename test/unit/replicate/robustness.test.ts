import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import path from 'node:path';
import { Harness, startHarness, submitJob, trackToEnd, trainerOptions, waitFor, writeZip } from './harness';
import { newJob } from '../../../src/core/jobs/factory';
import { importRemoteJobs } from '../../../src/providers/replicate/import';

describe('replicate provider: uploads, timeouts, auth changes, import', function () {
  this.timeout(30_000);
  let h: Harness;
  beforeEach(async () => { h = await startHarness(); });
  afterEach(async () => { await h.close(); });

  it('reports upload progress up to 100%', async () => {
    await submitJob(h, trainerOptions());
    const uploads = h.reports.filter((r) => r.startsWith('Uploading package'));
    assert.ok(uploads.length >= 2, uploads.join(' | '));
    assert.match(uploads.at(-1)!, /100% of 300 KB/);
  });

  it('an upload whose answer was lost is found by its sha256, not sent again', async () => {
    h.server.fail({ method: 'POST', path: /^\/files$/, afterHandling: true, drop: true });
    const job = await submitJob(h, trainerOptions());
    assert.equal(h.server.count('POST', /^\/files$/), 1);
    assert.equal(h.server.files.size, 1);
    assert.equal(job.metadata.uploadFileId, [...h.server.files.keys()][0]);
  });

  it('an upload refused with a 500 is sent once more', async () => {
    h.server.fail({ method: 'POST', path: /^\/files$/, status: 500 });
    await submitJob(h, trainerOptions());
    assert.equal(h.server.count('POST', /^\/files$/), 2);
    assert.equal(h.server.files.size, 1);
  });

  it('aborting during the upload stops before anything is created', async () => {
    const big = path.join(h.dir, 'big.zip');
    await writeZip(big, { 'datasets/subjects/big_one.png': randomBytes(64 * 1024 * 1024) });
    const ac = new AbortController();
    const job = newJob(h.layout, { provider: 'replicate' });
    await h.history.add(job);
    const ctx = { ...h.ctx, signal: ac.signal, report: (m: string) => { if (m.startsWith('Uploading package') && !m.includes(' 0%')) ac.abort(); } };
    await assert.rejects(h.provider.submit(job, { packagePath: big, options: trainerOptions() }, ctx), /cancelled|abort/i);
    assert.equal(h.server.runs.size, 0);
    assert.equal(h.server.count('POST', /^\/predictions$/), 0);
  });

  it('a create that times out is looked up, and exactly one prediction exists', async () => {
    await h.close();
    h = await startHarness({ transport: { backoffMs: 20, maxBackoffMs: 200, requestTimeoutMs: 400 } });
    h.server.fail({ method: 'POST', path: /^\/predictions$/, delayMs: 1200 });
    const job = await submitJob(h, trainerOptions());
    assert.equal(h.server.runs.size, 1);
    assert.equal(job.providerJobId, [...h.server.runs.keys()][0]);
    assert.ok(h.logs.some((l) => /timed out/.test(l) && /checking whether Replicate created it/.test(l)), h.logs.join('\n'));
  });

  it('a create Replicate refuses (422) leaves no uploaded package behind', async () => {
    h.server.fail({ method: 'POST', path: /^\/predictions$/, status: 422 });
    await assert.rejects(submitJob(h, trainerOptions()), /Replicate refused the request: Injected fault/);
    assert.equal(h.server.runs.size, 0);
    assert.equal(h.server.files.size, 0, 'the upload was deleted');
    assert.equal(h.server.deletedFiles.length, 1);
  });

  it('a create whose outcome cannot be confirmed keeps the upload and says to check', async () => {
    h.server.fail({ method: 'POST', path: /^\/predictions$/, status: 503 });
    h.server.fail({ method: 'GET', path: /^\/predictions$/, status: 503, times: 100 });
    await assert.rejects(submitJob(h, trainerOptions()), /Could not confirm whether the prediction was created; check replicate\.com/);
    assert.equal(h.server.files.size, 1, 'kept: the job may exist and need it');
  });

  it('a token revoked while a job runs shows why, and tracking resumes once it is valid', async () => {
    h.server.script = { ...h.server.script, startDelayMs: 300 };
    const job = await submitJob(h, trainerOptions());
    const good = h.server.token;
    h.server.token = 'r8_rotatedrotatedrotated';
    await new Promise((r) => setTimeout(r, 20)); // past the status/logs snapshot cache
    const j = await h.monitor.refresh((await h.history.get(job.id))!);
    assert.ok(j && (j.status === 'starting' || j.status === 'queued'), `still active: ${j?.status}`);
    assert.match(j!.statusDetail ?? '', /rejected the API token/);
    assert.ok(!(j!.statusDetail ?? '').includes(good));
    h.server.token = good;
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'succeeded');
  });

  it('imports recent jobs started elsewhere once', async () => {
    const mine = await submitJob(h, trainerOptions({ profile: 'l40s-x4' }));
    await h.history.remove([mine.id]); // as if it had been started from another machine
    const remote = await h.provider.listRemote!(20, h.ctx);
    const added = await importRemoteJobs(h.history, h.layout, remote);
    assert.equal(added.length, 1);
    assert.equal(added[0]!.providerJobId, mine.providerJobId);
    assert.equal(added[0]!.hardware, 'gpu-l40s-x4');
    assert.deepEqual(await importRemoteJobs(h.history, h.layout, remote), [], 'nothing twice');
    const done = await trackToEnd(h, added[0]!.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(await fs.readFile(done.logPath!, 'utf8'), h.server.runs.get(mine.providerJobId!)!.logs);
    await waitFor(() => h.server.deletedFiles.length === 0 ? true : undefined); // an imported job owns no upload of ours
  });
});

describe('replicate results destinations', function () {
  this.timeout(20_000);
  let h: Harness;
  afterEach(async () => { await h.close(); });

  it('an S3 destination becomes the trainer\'s s3_* inputs; the secret key goes to Replicate only', async () => {
    const secret = 'S3SECRETvalue-0123456789abcdef';
    h = await startHarness({ secrets: async (name) => (name === 's3:AKIATESTKEY' ? secret : undefined), env: {} });
    const job = await submitJob(h, trainerOptions({ results: { kind: 's3', endpoint: 'https://s3.example.test', bucket: 'my-results', prefix: 'loras', accessKeyId: 'AKIATESTKEY' } }));
    const run = h.server.runs.get(job.providerJobId!)!;
    assert.equal(run.input.s3_bucket, 'my-results');
    assert.equal(run.input.s3_base_path, `loras/${job.id}/`);
    assert.equal(run.input.s3_endpoint_url, 'https://s3.example.test');
    assert.equal(run.input.s3_secret_key, '**********', 'sent (Replicate redacts secrets in what it returns)');
    const done = await trackToEnd(h, job.id);
    assert.ok(done.outputs.some((o) => o.kind === 's3' && o.uri === `https://s3.example.test/my-results/loras/${job.id}/`), JSON.stringify(done.outputs));
    const history = await fs.readFile(h.history.file, 'utf8');
    assert.ok(!history.includes(secret), 'no secret in history');
  });

  it('a HuggingFace destination without a token is refused before uploading', async () => {
    h = await startHarness({ getHfToken: async () => undefined, env: {} });
    await assert.rejects(submitJob(h, trainerOptions({ hubModelId: 'me/x' })), /Results destination: No HuggingFace token/);
    assert.equal(h.server.count('POST', /^\/files$/), 0);
  });
});
