import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { newJob } from '../../../src/core/jobs/factory';
import type { Job } from '../../../src/core/jobs/schema';
import { dataLayout } from '../../../src/core/paths';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import type { ProviderContext } from '../../../src/core/providers/types';
import { DatasetInvalidError } from '../../../src/core/finetune/plan';
import { datasetIdFor } from '../../../src/providers/fireworks/api';
import { sha256File } from '../../../src/providers/together/api';
import { FireworksProvider, renderFireworksLog, advanceMark } from '../../../src/providers/fireworks/provider';
import { FakeFireworks } from '../../support/fireworks-server/server';

/** The Fireworks provider end to end against the stand-in (loopback only). */
describe('fireworks provider (against the Fireworks stand-in)', function () {
  this.timeout(30_000);
  let server: FakeFireworks;
  let dir: string;
  let dataset: string;
  let history: JobHistory;
  let provider: FireworksProvider;
  let logs: string[];
  let key: string;

  const chat = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: `question ${i}` }, { role: 'assistant', content: `answer ${i}` }] });
  const MODEL = 'accounts/fireworks/models/llama-v3p1-8b-instruct';

  const make = () => new FireworksProvider({
    getApiKey: async () => key, getAccountId: async () => server.account, baseUrl: () => server.base,
    timeoutMs: 3000, maxRetryAfterMs: 2000, backoffMs: 20, cacheMs: 0,
  });

  beforeEach(async () => {
    server = new FakeFireworks();
    server.steps = 4;
    await server.start();
    key = server.apiKey;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-fireworks-prov-'));
    dataset = path.join(dir, 'train.jsonl');
    await fs.writeFile(dataset, Array.from({ length: 30 }, (_, i) => chat(i)).join('\n') + '\n');
    history = new JobHistory(dir);
    logs = [];
    provider = make();
  });
  afterEach(async () => {
    provider.dispose();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const ctx = (): ProviderContext => ({ dataHome: dir, log: (l) => logs.push(l) });

  async function submitted(options: Record<string, unknown> = {}): Promise<Job> {
    const opts = { model: MODEL, trainingFile: dataset, ...options };
    const job = newJob(dataLayout(dir), { provider: 'fireworks', name: 'ft', workspace: dir, submission: { options: opts } });
    await history.add(job);
    const r = await provider.submit(job, { options: opts }, ctx());
    return (await history.update(job.id, (j) => ({ ...j, status: r.status, providerJobId: r.providerJobId, metadata: { ...j.metadata, ...r.metadata } })))!;
  }

  function monitor(): JobMonitor {
    const registry = new ProviderRegistry();
    registry.register('fireworks', () => provider);
    return new JobMonitor(history, registry, { dataHome: dir, intervalMs: 10, log: (l) => logs.push(l) });
  }

  async function followToEnd(m: JobMonitor, id: string): Promise<{ job: Job; percents: number[] }> {
    const percents: number[] = [];
    for (let i = 0; i < 40; i++) {
      const j = (await m.refresh((await history.get(id))!))!;
      if (j.progress.percent !== undefined) percents.push(j.progress.percent);
      if (j.metadata.finalized === true) return { job: j, percents };
    }
    throw new Error('job never finalized');
  }

  it('submits under ct-<job id>, follows to succeeded with progress, a synthesised log with no repeats across a reload, the model recorded and the dataset deleted', async () => {
    const job = await submitted({ epochs: 2, loraRank: 16, learningRate: 0.0002 });
    assert.equal(job.providerJobId, job.metadata.finetuneMarker);
    assert.match(job.providerJobId!, /^ct-[a-z0-9-]+$/);
    const sha = await sha256File(dataset);
    assert.ok(server.datasets.has(datasetIdFor(sha)), 'the dataset id is derived from the sha256');
    const remote = server.jobs.get(job.providerJobId!)!;
    assert.equal(remote.baseModel, MODEL);
    assert.equal(remote.loraRank, 16);
    assert.equal(remote.epochs, 2);
    assert.match(remote.displayName ?? '', new RegExp(job.id));

    const first = monitor();
    const seen: number[] = [];
    // status() and fetchLogs() each read the job (cacheMs 0), and the stand-in moves one step per read.
    for (let i = 0; i < 2; i++) seen.push((await first.refresh((await history.get(job.id))!))!.progress.percent ?? -1);
    assert.equal((await history.get(job.id))!.status, 'running');
    first.dispose();
    provider = make(); // a reload: a new provider, the same history and mirror
    const second = monitor();
    const { job: done, percents } = await followToEnd(second, job.id);
    second.dispose();

    assert.equal(done.status, 'succeeded');
    assert.ok([...seen, ...percents].some((p) => p > 0 && p < 100), [...seen, ...percents].join(','));
    assert.equal(done.progress.percent, 100);
    assert.equal(done.progress.totalEpochs, 2);
    const mirror = await fs.readFile(done.logPath!, 'utf8');
    const lines = mirror.trim().split('\n');
    assert.equal(new Set(lines).size, lines.length, `no line twice:\n${mirror}`);
    assert.match(lines[0]!, /created: supervised fine-tuning job ct-/);
    assert.deepEqual(lines.filter((l) => l.startsWith('progress')), ['progress 10%', 'progress 20%', 'progress 30%', 'progress 40%', 'progress 50%', 'progress 60%', 'progress 70%', 'progress 80%', 'progress 90%', 'progress 100%']);
    assert.match(lines.at(-1)!, /state JOB_STATE_COMPLETED: output model accounts\/acme-ml\/models\/ct-/);
    assert.equal(done.outputs.find((o) => o.kind === 'model')?.uri, remote.outputModel);
    assert.equal(server.datasets.size, 0, 'the dataset was deleted from Fireworks');
    assert.equal(done.metadata.uploadsDeleted, true);
  });

  it('the synthesised log only grows: a later snapshot renders a text that starts with the earlier one', () => {
    const base = { name: 'accounts/a/supervisedFineTuningJobs/ct-x', createTime: '2026-01-01T00:00:00Z', dataset: 'accounts/a/datasets/d', baseModel: 'm' };
    const s1 = { ...base, state: 'JOB_STATE_RUNNING', jobProgress: { percent: 33 } };
    const s2 = { ...base, state: 'JOB_STATE_FAILED', status: { message: 'diverged' }, completedTime: '2026-01-01T01:00:00Z' }; // progress gone from the snapshot
    const m1 = advanceMark(undefined, s1);
    const t1 = renderFireworksLog(s1, m1);
    const t2 = renderFireworksLog(s2, advanceMark(m1, s2));
    assert.ok(t2.startsWith(t1), `${t1}\n---\n${t2}`);
    assert.match(t2, /state JOB_STATE_FAILED: diverged\n$/);
  });

  it('after a create whose connection dropped (the job was created), finds it by id: exactly one job', async () => {
    server.fail({ method: 'POST', path: /\/supervisedFineTuningJobs$/, drop: true, afterHandling: true });
    const job = await submitted();
    assert.equal(server.jobs.size, 1);
    assert.equal(server.count('POST', /\/supervisedFineTuningJobs$/), 1, 'not created again');
    assert.ok(server.jobs.has(job.providerJobId!));
    assert.ok(logs.some((l) => /found the job ct-.* by its id/.test(l)));
  });

  it('honours Retry-After on a 429 from create', async () => {
    server.fail({ method: 'POST', path: /\/supervisedFineTuningJobs$/, status: 429, retryAfter: '1' });
    const started = Date.now();
    await submitted();
    assert.ok(Date.now() - started >= 950);
    assert.equal(server.jobs.size, 1);
  });

  it('honours Retry-After on a 429 from the dataset upload', async () => {
    server.fail({ method: 'POST', path: /:upload$/, status: 429, retryAfter: '1' });
    const started = Date.now();
    await submitted();
    assert.ok(Date.now() - started >= 950);
    assert.equal(server.count('POST', /:upload$/), 2);
    assert.equal(server.jobs.size, 1);
  });

  it('a wrong key: one clear message, nothing created, the key nowhere', async () => {
    key = 'fw_wrong_key_0123456789abcdef0123';
    const job = newJob(dataLayout(dir), { provider: 'fireworks', name: 'ft', submission: {} });
    await assert.rejects(provider.submit(job, { options: { model: MODEL, trainingFile: dataset } }, ctx()), (e: Error) => {
      assert.match(e.message, /Fireworks rejected the API key \(HTTP 401\)/);
      assert.ok(!e.message.includes(key));
      return true;
    });
    assert.equal(server.datasets.size, 0);
    assert.equal(server.jobs.size, 0);
    assert.ok(!logs.join('\n').includes(key));
    const check = await provider.validateCredentials();
    assert.equal(check.ok, false);
    assert.ok(!check.message.includes(key));
  });

  it('one bad line: names the line and field, nothing sent', async () => {
    const lines = Array.from({ length: 10 }, (_, i) => chat(i));
    lines[6] = JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: '   ' }] });
    await fs.writeFile(dataset, lines.join('\n') + '\n');
    const job = newJob(dataLayout(dir), { provider: 'fireworks', name: 'ft', submission: {} });
    await assert.rejects(provider.submit(job, { options: { model: MODEL, trainingFile: dataset } }, ctx()), (e: Error) => {
      assert.ok(e instanceof DatasetInvalidError);
      assert.match(e.message, /train\.jsonl:7 \(messages\[1\]\.content\)/);
      return true;
    });
    assert.equal(server.requests.length, 0);
  });

  it('a job Fireworks fails: its status message is the job\'s error and the log\'s last line', async () => {
    server.outcome = 'failed';
    const job = await submitted();
    const m = monitor();
    const { job: done } = await followToEnd(m, job.id);
    m.dispose();
    assert.equal(done.status, 'failed');
    assert.equal(done.error, 'training diverged: loss is NaN at epoch 1');
    assert.match(await fs.readFile(done.logPath!, 'utf8'), /state JOB_STATE_FAILED: training diverged: loss is NaN at epoch 1\n$/);
    assert.equal(server.datasets.size, 0);
  });

  it('cancels a running job (stays readable as cancelled); keepUploads keeps the dataset, which the next job reuses', async () => {
    const job = await submitted({ keepUploads: true });
    const m = monitor();
    await m.refresh((await history.get(job.id))!);
    await m.refresh((await history.get(job.id))!);
    await provider.cancel((await history.get(job.id))!, ctx());
    await history.update(job.id, (j) => ({ ...j, cancelRequestedAt: new Date().toISOString() }));
    const { job: done } = await followToEnd(m, job.id);
    m.dispose();
    assert.equal(done.status, 'cancelled');
    assert.equal(server.jobs.get(job.providerJobId!)?.state, 'JOB_STATE_CANCELLED');
    assert.equal(done.metadata.uploadsKept, true);
    assert.equal(server.datasets.size, 1);
    const uploads = server.count('POST', /:upload$/);
    const again = await submitted();
    assert.equal(server.count('POST', /:upload$/), uploads, 'the identical file was not sent again');
    assert.equal((again.metadata.finetuneUploads as { reused: boolean }[])[0]!.reused, true);
  });

  it('warm start: warmStartFrom replaces baseModel', async () => {
    const job = await submitted({ fromCheckpoint: 'accounts/acme-ml/models/earlier-lora' });
    const remote = server.jobs.get(job.providerJobId!)!;
    assert.equal(remote.warmStartFrom, 'accounts/acme-ml/models/earlier-lora');
    assert.equal(remote.baseModel, undefined);
  });
});
