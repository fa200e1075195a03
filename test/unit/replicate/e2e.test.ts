import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { Harness, startHarness, submitJob, trackToEnd, trainerOptions, waitFor } from './harness';
import { REPLICATE_PRICE_PER_SECOND } from '../../../src/providers/replicate/hardware';
import { newJob } from '../../../src/core/jobs/factory';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import { ReplicateProvider } from '../../../src/providers/replicate/provider';
import { trainableSchema, trainerSchema } from '../../support/replicate-server/schemas';

const near = (a: number | undefined, b: number) => assert.ok(a !== undefined && Math.abs(a - b) < 1e-4, `${a} ≈ ${b}`);

describe('replicate provider end to end (real client → fake Replicate)', function () {
  this.timeout(30_000);
  let h: Harness;
  beforeEach(async () => { h = await startHarness(); });
  afterEach(async () => { await h.close(); });

  async function assertLogsExact(jobId: string) {
    const job = (await h.history.get(jobId))!;
    const mirror = await fs.readFile(job.logPath!, 'utf8');
    assert.equal(mirror, h.server.runs.get(job.providerJobId!)!.logs, 'mirror equals Replicate logs: nothing lost or repeated');
    const lines = mirror.split('\n').filter(Boolean);
    assert.equal(new Set(lines).size, lines.length, 'no line twice');
  }

  it('SimpleTuner trainer model: uploads once, creates once, streams logs, succeeds, prices the profile, deletes the upload', async () => {
    h.server.script = { ...h.server.script, chunkMs: 100 }; // long enough to be seen running on a busy machine
    const job = await submitJob(h, trainerOptions({ hubModelId: 'me/my-lora' }));
    assert.equal(h.server.count('POST', /^\/files$/), 1);
    assert.equal(h.server.count('POST', /^\/predictions$/), 1);
    assert.equal(job.metadata.replicateModel, 'simpletuner/advanced-trainer-l40s-x2');
    assert.equal(job.metadata.replicateHardware, 'gpu-l40s-x2');

    const run = h.server.runs.get(job.providerJobId!)!;
    assert.ok(!('cloudtrain_job_id' in run.input), 'no undeclared marker input');
    assert.equal(run.input.images, h.server.files.get(job.metadata.uploadFileId as string)!.urls.get);
    assert.equal(run.input.dataloader_json, '', 'archive route: the required dataloader_json is empty so the trainer unpacks the archive');
    assert.equal(run.input.max_train_steps, 4, 'max_train_steps from the training config');
    assert.equal(job.metadata.dataRoute, 'archive');
    assert.equal(run.input.hub_model_id, 'me/my-lora');
    assert.equal(run.version, h.server.versionsOf('simpletuner/advanced-trainer-l40s-x2').at(-1), 'newest version');
    assert.equal(h.server.files.get(job.metadata.uploadFileId as string)!.checksums.sha256, job.metadata.uploadSha256, 'uploaded bytes intact; the checksum sent is the zip\'s');
    assert.equal(job.metadata.packageId, h.packageId, 'the package identity is kept under its own name');
    assert.equal(job.metadata.packageSha256, undefined);

    const seen = new Set<string>();
    const done = await trackToEnd(h, job.id, (j) => { seen.add(j.status); });
    assert.equal(done.status, 'succeeded');
    assert.ok(seen.has('running'));
    assert.deepEqual(run.trainer?.datasets.flatMap((d) => d.images.map((i) => i.caption)).sort(), ['a photo of tok', 'tok at the beach'], 'the trainer found every image and caption');
    await assertLogsExact(job.id);
    near(done.cost?.actual, 3600 * REPLICATE_PRICE_PER_SECOND['gpu-l40s']! * 2);
    assert.equal(done.cost?.billedSeconds, 3600);
    assert.deepEqual(done.outputs.map((o) => [o.kind, o.uri]), [['huggingface', 'https://huggingface.co/me/my-lora']]);
    assert.ok(done.progress.step === 4 && done.progress.totalSteps === 4, 'progress parsed from the streamed logs');
    assert.equal(done.metadata.uploadDeleted, true);
    assert.ok(h.server.deletedFiles.includes(job.metadata.uploadFileId as string));
    assert.equal(h.server.count('POST', /^\/predictions$/), 1);

    const historyText = await fs.readFile(h.history.file, 'utf8');
    assert.ok(!historyText.includes(h.server.token) && !historyText.includes('hf_secretvalue'), 'no secret in history');
  });

  it('a window reload mid-stream (new provider, new monitor) neither repeats nor loses a line', async () => {
    h.server.script = { ...h.server.script, chunkMs: 120 };
    const job = await submitJob(h, trainerOptions());
    await waitFor(async () => {
      const j = await h.monitor.refresh((await h.history.get(job.id))!);
      const text = await fs.readFile(j!.logPath!, 'utf8').catch(() => '');
      return text.split('\n').length > 3 ? true : undefined;
    });
    h.monitor.dispose();
    // "Reload": everything in memory is gone; only the history and the log mirror remain.
    const provider = new ReplicateProvider({ getToken: async () => h.server.token, baseUrl: h.server.base, cacheMs: 5 });
    const registry = new ProviderRegistry();
    registry.register('replicate', () => provider);
    h.monitor = new JobMonitor(h.history, registry, { dataHome: h.dir, intervalMs: 20 });
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'succeeded');
    await assertLogsExact(job.id);
  });

  it('an H100 profile is priced at the H100 rate', async () => {
    const job = await submitJob(h, trainerOptions({ profile: 'h100-x4' }));
    const done = await trackToEnd(h, job.id);
    near(done.cost?.actual, 3600 * REPLICATE_PRICE_PER_SECOND['gpu-h100']! * 4);
    near(done.cost?.pricePerHour, 0.001525 * 4 * 3600);
  });

  it('trainable model: trains into the destination and records output version and weights', async () => {
    h.server.addModel('tester', 'my-flux-lora', []);
    const job = await submitJob(h, { mode: 'trainable', model: 'ostris/flux-dev-lora-trainer', destination: 'tester/my-flux-lora', input: { steps: 10, trigger_word: 'ZXC' } });
    assert.equal(h.server.count('POST', /^\/models\/ostris\/flux-dev-lora-trainer\/versions\/[^/]+\/trainings$/), 1);
    const run = h.server.runs.get(job.providerJobId!)!;
    assert.equal(run.kind, 'training');
    assert.equal(run.input.input_images, job.metadata.uploadUrl);
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'succeeded');
    await assertLogsExact(job.id);
    assert.match(String(done.metadata.replicateOutputVersion), /^tester\/my-flux-lora:/);
    assert.match(String(done.metadata.replicateOutputWeights), /trained_model\.tar$/);
    assert.ok(done.outputs.some((o) => o.uri.includes('replicate.com/tester/my-flux-lora/versions/')));
    near(done.cost?.actual, 3600 * REPLICATE_PRICE_PER_SECOND['gpu-h100']!);
    assert.ok(h.server.deletedFiles.includes(job.metadata.uploadFileId as string));
  });

  it('reuses an upload with the same sha256 and keeps it while another job still needs it', async () => {
    const a = await submitJob(h, trainerOptions());
    h.server.script = { ...h.server.script, chunkMs: 150 }; // b runs long enough to outlive a
    const b = await submitJob(h, trainerOptions());
    assert.equal(h.server.count('POST', /^\/files$/), 1, 'second job reused the upload');
    assert.equal(b.metadata.uploadReused, true);
    assert.equal(b.metadata.uploadFileId, a.metadata.uploadFileId);
    const doneA = await trackToEnd(h, a.id);
    assert.equal(doneA.metadata.uploadKeptFor, b.providerJobId, 'b still uses the file');
    assert.ok(!h.server.deletedFiles.includes(a.metadata.uploadFileId as string));
    await trackToEnd(h, b.id);
    assert.ok(h.server.deletedFiles.includes(a.metadata.uploadFileId as string), 'deleted once nobody needs it');
  });

  it('a failed training ends failed with Replicate\'s error, and the upload is still deleted', async () => {
    h.server.script = { ...h.server.script, outcome: 'failed', error: 'CUDA out of memory', predictTime: 120 };
    const job = await submitJob(h, trainerOptions({ profile: 'h100' }));
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error, 'CUDA out of memory');
    near(done.cost?.actual, 120 * 0.001525);
    await assertLogsExact(job.id);
    assert.ok(h.server.deletedFiles.includes(job.metadata.uploadFileId as string));
  });

  it('cancel stops the job; cancelling a job Replicate no longer knows is not an error', async () => {
    h.server.script = { ...h.server.script, chunkMs: 200 };
    const job = await submitJob(h, trainerOptions());
    await waitFor(async () => { const j = await h.monitor.refresh((await h.history.get(job.id))!); return j?.status === 'running' ? j : undefined; });
    await h.history.update(job.id, (j) => ({ ...j, cancelRequestedAt: new Date().toISOString() }));
    await h.provider.cancel((await h.history.get(job.id))!, h.ctx);
    assert.equal(h.server.runs.get(job.providerJobId!)!.status, 'canceled');
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'cancelled');
    assert.ok(h.server.deletedFiles.includes(job.metadata.uploadFileId as string));
    h.server.forget(job.providerJobId!);
    await h.provider.cancel(done, h.ctx); // 404: fine
  });

  it('a 429 storm is waited out per Retry-After, without hammering, and the job completes', async () => {
    h.server.fail({ method: 'POST', path: /^\/predictions$/, status: 429, retryAfter: '1', times: 1 });
    const t0 = Date.now();
    const job = await submitJob(h, trainerOptions());
    assert.ok(Date.now() - t0 >= 900, 'create waited for Retry-After');
    assert.equal(h.server.runs.size, 1);
    h.server.fail({ method: 'GET', path: /^\/predictions\/[^/]+$/, status: 429, retryAfter: '1', times: 2 });
    await new Promise((r) => setTimeout(r, 20)); // past the status/logs snapshot cache
    const before = h.server.count('GET', /^\/predictions\/[^/]+$/);
    const t1 = Date.now();
    await h.provider.status((await h.history.get(job.id))!, h.ctx);
    assert.ok(Date.now() - t1 >= 1900, 'two Retry-After: 1 waits honoured');
    assert.equal(h.server.count('GET', /^\/predictions\/[^/]+$/) - before, 3, 'one request per Retry-After window');
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(h.server.runs.size, 1);
  });

  for (const fault of [{ label: 'a 500 answered after creation', status: 500 }, { label: 'a connection dropped after creation', drop: true }]) {
    it(`${fault.label}: the job is found again, exactly one exists`, async () => {
      h.server.fail({ method: 'POST', path: /^\/predictions$/, afterHandling: true, ...fault });
      const job = await submitJob(h, trainerOptions());
      assert.equal(h.server.runs.size, 1, 'exactly one prediction');
      assert.equal(h.server.count('POST', /^\/predictions$/), 1, 'never created twice');
      assert.equal(job.providerJobId, [...h.server.runs.keys()][0]);
      const done = await trackToEnd(h, job.id);
      assert.equal(done.status, 'succeeded');
      await assertLogsExact(job.id);
    });
  }

  it('a 500 after creating a training: exactly one training exists', async () => {
    h.server.addModel('tester', 'dest', []);
    h.server.fail({ method: 'POST', path: /\/trainings$/, afterHandling: true, status: 502 });
    const job = await submitJob(h, { mode: 'trainable', model: 'ostris/flux-dev-lora-trainer', destination: 'tester/dest' });
    assert.equal([...h.server.runs.values()].filter((r) => r.kind === 'training').length, 1);
    assert.equal(job.providerJobId, [...h.server.runs.keys()][0]);
  });

  it('a 500 before anything was created: looked up, then created once', async () => {
    h.server.fail({ method: 'POST', path: /^\/predictions$/, status: 500 });
    const job = await submitJob(h, trainerOptions());
    assert.equal(h.server.runs.size, 1);
    assert.ok(h.server.count('GET', /^\/predictions$/) >= 1, 'listed before creating again');
    assert.equal(job.providerJobId, [...h.server.runs.keys()][0]);
  });

  it('dropped connections while polling show "reconnecting", then the job finishes with complete logs', async () => {
    const job = await submitJob(h, trainerOptions());
    h.server.fail({ method: 'GET', path: /^\/predictions\/[^/]+$/, drop: true, times: 12 });
    const details: string[] = [];
    const done = await trackToEnd(h, job.id, (j) => { if (j.statusDetail) details.push(j.statusDetail); });
    assert.ok(details.some((d) => /^Reconnecting: .*reconnecting to Replicate/i.test(d)), details.join(' | '));
    assert.equal(done.status, 'succeeded');
    assert.equal(done.statusDetail, undefined, 'detail cleared once back');
    await assertLogsExact(job.id);
  });

  it('a bad token: a clear message, never the token', async () => {
    const bad = 'r8_badbadbadbadbad0000';
    await h.close();
    h = await startHarness({ getToken: async () => bad });
    const check = await h.provider.validateCredentials();
    assert.equal(check.ok, false);
    assert.match(check.message, /rejected the API token/);
    assert.ok(!check.message.includes(bad));
    const job = newJob(h.layout, { provider: 'replicate' });
    await assert.rejects(h.provider.submit(job, { packagePath: h.packagePath, options: trainerOptions() }, h.ctx), (e: Error) => /rejected the API token/.test(e.message) && !e.message.includes(bad));
    assert.equal(h.server.runs.size, 0);
  });

  it('a missing destination is refused before uploading; allowed, it is created', async () => {
    const opts = { mode: 'trainable', model: 'ostris/flux-dev-lora-trainer', destination: 'tester/not-there' };
    await assert.rejects(submitJob(h, opts), /destination model tester\/not-there does not exist/);
    assert.equal(h.server.count('POST', /^\/files$/), 0);
    assert.equal(h.server.runs.size, 0);
    const asked: string[] = [];
    h.ctx.prompter = { confirm: async (m) => { asked.push(m); return true; }, secret: async () => undefined };
    const job = await submitJob(h, opts);
    assert.equal(asked.length, 1);
    assert.ok(h.server.models.has('tester/not-there'));
    assert.equal(h.server.runs.get(job.providerJobId!)!.destination, 'tester/not-there');
  });

  it('inputs that do not match the model schema are reported before anything is uploaded', async () => {
    h.server.addModel('ostris', 'strict-trainer', [trainableSchema(['input_images', 'trigger_word'])]);
    h.server.addModel('tester', 'dest', []);
    await assert.rejects(
      submitJob(h, { mode: 'trainable', model: 'ostris/strict-trainer', destination: 'tester/dest', input: { steps: 'many', lora_rank: 7 } }),
      (e: Error) => /missing required input "trigger_word"/.test(e.message) && /"steps" must be an integer/.test(e.message) && /"lora_rank" must be one of 4, 8, 16, 32/.test(e.message),
    );
    const m = h.server.addModel('simpletuner', 'advanced-trainer-l40s', [trainerSchema({ required: ['accept_license'], properties: { accept_license: { type: 'boolean' } } })]);
    await assert.rejects(submitJob(h, trainerOptions({ profile: 'l40s', trainerVersion: m.versions[0]!.id })), /missing required input "accept_license"/);
    assert.equal(h.server.count('POST', /^\/files$/), 0);
    assert.equal(h.server.runs.size, 0);
  });

  it('a pinned trainer version that does not exist is a clear 404', async () => {
    await assert.rejects(submitJob(h, trainerOptions({ trainerVersion: 'deadbeef' })), /Version deadbeef of model simpletuner\/advanced-trainer-l40s-x2 was not found/);
  });

  it('lists recent predictions and trainings for import', async () => {
    await submitJob(h, trainerOptions({ profile: 'h100-x2' }));
    const remote = await h.provider.listRemote!(10, h.ctx);
    assert.equal(remote.length, 1);
    assert.equal(remote[0]!.hardware, 'gpu-h100-x2');
    // An imported job (no metadata of ours) can be tracked too.
    const imported = { ...newJob(h.layout, { provider: 'replicate' }), providerJobId: remote[0]!.providerJobId, status: remote[0]!.status };
    await h.history.add(imported);
    const done = await trackToEnd(h, imported.id);
    assert.equal(done.status, 'succeeded');
    near(done.cost?.actual, 3600 * 0.001525 * 2);
  });
});
