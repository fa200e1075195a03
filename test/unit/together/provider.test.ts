import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
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
import { TogetherProvider } from '../../../src/providers/together/provider';
import { PriceAboveLimitError } from '../../../src/core/cost/limits';
import { FakeTogether } from '../../support/together-server/server';

/**
 * The Together provider end to end against the stand-in (loopback only): submit → running → succeeded
 * through the real JobMonitor, events mirrored once, faults on create, wrong key, failure, cancel,
 * upload deletion and reuse.
 */
describe('together provider (against the Together stand-in)', function () {
  this.timeout(30_000);
  let server: FakeTogether;
  let dir: string;
  let dataset: string;
  let history: JobHistory;
  let provider: TogetherProvider;
  let logs: string[];
  let key: string;

  const chat = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: `question ${i}` }, { role: 'assistant', content: `answer ${i}` }] });
  const MODEL = 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference';

  beforeEach(async () => {
    server = new FakeTogether();
    await server.start();
    key = server.apiKey;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-together-prov-'));
    dataset = path.join(dir, 'train.jsonl');
    await fs.writeFile(dataset, Array.from({ length: 50 }, (_, i) => chat(i)).join('\n') + '\n');
    history = new JobHistory(dir);
    logs = [];
    provider = new TogetherProvider({ getApiKey: async () => key, baseUrl: () => server.base, timeoutMs: 3000, maxRetryAfterMs: 2000, cacheMs: 0 });
  });
  afterEach(async () => {
    provider.dispose();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const ctx = (): ProviderContext => ({ dataHome: dir, log: (l) => logs.push(l) });

  async function submitted(options: Record<string, unknown> = {}): Promise<Job> {
    const job = newJob(dataLayout(dir), { provider: 'together', name: 'ft', workspace: dir, submission: { options: { model: MODEL, trainingFile: dataset, ...options } } });
    await history.add(job);
    const r = await provider.submit(job, { options: { model: MODEL, trainingFile: dataset, ...options } }, ctx());
    return (await history.update(job.id, (j) => ({ ...j, status: r.status, providerJobId: r.providerJobId, metadata: { ...j.metadata, ...r.metadata } })))!;
  }

  function monitor(): { m: JobMonitor; registry: ProviderRegistry } {
    const registry = new ProviderRegistry();
    registry.register('together', () => provider);
    return { m: new JobMonitor(history, registry, { dataHome: dir, intervalMs: 10, log: (l) => logs.push(l) }), registry };
  }

  async function followToEnd(m: JobMonitor, id: string): Promise<{ job: Job; statuses: string[]; percents: number[] }> {
    const statuses: string[] = [];
    const percents: number[] = [];
    for (let i = 0; i < 40; i++) {
      const j = (await m.refresh((await history.get(id))!))!;
      if (statuses.at(-1) !== j.status) statuses.push(j.status);
      if (j.progress.percent !== undefined) percents.push(j.progress.percent);
      if (j.metadata.finalized === true) return { job: j, statuses, percents };
    }
    throw new Error(`job never finalized: ${statuses.join(' → ')}`);
  }

  it('submits, follows to succeeded with progress and cost, mirrors each event once across a reload, records the model, downloads the adapter and deletes the upload', async () => {
    const job = await submitted({ epochs: 2, loraRank: 16 });
    assert.match(job.providerJobId!, /^ft-/);
    const remote = server.jobs.get(job.providerJobId!)!;
    assert.equal(remote.suffix, job.metadata.finetuneMarker, 'the job carries our marker as its suffix');
    assert.deepEqual(remote.training_type, { type: 'Lora', lora_r: 16, lora_alpha: 32 });
    assert.equal(remote.n_epochs, 2);
    assert.equal(server.files.size, 1);

    const first = monitor();
    // Half way: a few polls, then a "reload" (a new monitor and provider over the same history and mirror).
    for (let i = 0; i < 3; i++) await first.m.refresh((await history.get(job.id))!);
    const mid = (await history.get(job.id))!;
    assert.equal(mid.status, 'running');
    assert.ok((mid.progress.step ?? 0) >= 1 && mid.progress.totalSteps === 3, JSON.stringify(mid.progress));
    first.m.dispose();
    provider = new TogetherProvider({ getApiKey: async () => key, baseUrl: () => server.base, timeoutMs: 3000, cacheMs: 0 });
    const second = monitor();
    const { job: done, statuses, percents } = await followToEnd(second.m, job.id);
    second.m.dispose();

    assert.equal(done.status, 'succeeded');
    assert.deepEqual(statuses.slice(-1), ['succeeded']);
    assert.ok(percents.some((p) => p > 0 && p < 100), `partial progress seen: ${percents.join(',')}`);
    assert.equal(done.progress.percent, 100);
    assert.equal(done.cost?.actual, remote.total_price, 'Together\'s total_price is the cost');
    assert.ok(remote.total_price > 0);

    const mirror = await fs.readFile(done.logPath!, 'utf8');
    const lines = mirror.trim().split('\n');
    assert.equal(lines.length, remote.events.length, 'one line per event');
    assert.equal(new Set(lines).size, lines.length, 'no event mirrored twice across the reload');
    assert.match(mirror, /checkpoint_save: Training step 1\/3\n.*Training step 2\/3\n.*Training step 3\/3/s);
    assert.match(mirror, /job_complete/);

    const model = done.outputs.find((o) => o.kind === 'model');
    assert.equal(model?.uri, remote.model_output_name);
    const adapter = done.outputs.find((o) => o.kind === 'file');
    assert.ok(adapter && existsSync(adapter.uri), 'the LoRA adapter was downloaded into outputs/<job>');
    assert.equal(path.dirname(adapter.uri), path.join(dir, 'outputs', job.id));
    assert.deepEqual(await fs.readFile(adapter.uri), server.weights);
    assert.equal(server.files.size, 0, 'the uploaded training file was deleted');
    assert.equal(done.metadata.uploadsDeleted, true);
  });

  it('keeps the upload with keepUploads, and reuses it (same sha256) for the next job without sending it again', async () => {
    const a = await submitted({ keepUploads: true, downloadWeights: false });
    const { m } = monitor();
    const doneA = (await followToEnd(m, a.id)).job;
    assert.equal(doneA.status, 'succeeded');
    assert.equal(doneA.metadata.uploadsKept, true);
    assert.equal(server.files.size, 1, 'kept on Together');
    const uploadsBefore = server.count('POST', /^\/files\/upload$/);
    const b = await submitted({ downloadWeights: false });
    assert.equal(server.count('POST', /^\/files\/upload$/), uploadsBefore, 'not uploaded again');
    const rec = (b.metadata.finetuneUploads as { id: string; reused: boolean }[])[0]!;
    assert.equal(rec.reused, true);
    assert.equal(rec.id, (a.metadata.finetuneUploads as { id: string }[])[0]!.id);
    assert.ok(logs.some((l) => /already has train\.jsonl/.test(l)));
    const doneB = (await followToEnd(m, b.id)).job;
    m.dispose();
    assert.equal(doneB.metadata.uploadsDeleted, true, 'B did not ask to keep it: deleted when B ended');
    assert.equal(server.files.size, 0);
  });

  it('after a create whose connection dropped (the job was created), finds it by its suffix: exactly one job', async () => {
    server.fail({ method: 'POST', path: /^\/fine-tunes$/, drop: true, afterHandling: true });
    const job = await submitted();
    assert.equal(server.jobs.size, 1, 'exactly one job at Together');
    assert.equal(server.count('POST', /^\/fine-tunes$/), 1, 'the create was not sent again');
    assert.equal(job.providerJobId, [...server.jobs.keys()][0]);
    assert.ok(logs.some((l) => /found the job .* by its suffix/.test(l)));
  });

  it('after a 500 on create that created nothing, looks first, then creates once', async () => {
    server.fail({ method: 'POST', path: /^\/fine-tunes$/, status: 500 });
    const job = await submitted();
    assert.equal(server.jobs.size, 1);
    assert.equal(server.count('POST', /^\/fine-tunes$/), 2);
    assert.ok(server.count('GET', /^\/fine-tunes$/) >= 1, 'listed jobs before sending the create again');
    assert.ok(job.providerJobId);
  });

  it('honours Retry-After on a 429 from create', async () => {
    server.fail({ method: 'POST', path: /^\/fine-tunes$/, status: 429, retryAfter: '1' });
    const started = Date.now();
    const job = await submitted();
    const waited = Date.now() - started;
    assert.ok(waited >= 950, `waited ${waited} ms`);
    assert.equal(server.jobs.size, 1);
    assert.ok(job.providerJobId);
  });

  it('honours Retry-After on a 429 from the upload, and stores the file once', async () => {
    server.fail({ method: 'POST', path: /^\/files\/upload$/, status: 429, retryAfter: '1' });
    const started = Date.now();
    await submitted();
    assert.ok(Date.now() - started >= 950);
    assert.equal(server.count('POST', /^\/files\/upload$/), 2);
    assert.equal(server.files.size, 1);
    assert.equal(server.jobs.size, 1);
  });

  it('a wrong key: one clear message, nothing uploaded or created, and the key appears nowhere', async () => {
    key = 'tgp_v1_wrong_key_0123456789abcdef';
    const job = newJob(dataLayout(dir), { provider: 'together', name: 'ft', submission: {} });
    await assert.rejects(provider.submit(job, { options: { model: MODEL, trainingFile: dataset } }, ctx()), (e: Error) => {
      assert.match(e.message, /Together rejected the API key \(HTTP 401\)/);
      assert.ok(!e.message.includes(key) && !(e.stack ?? '').includes(key));
      return true;
    });
    assert.equal(server.files.size, 0);
    assert.equal(server.jobs.size, 0);
    assert.ok(!logs.join('\n').includes(key));
    const check = await provider.validateCredentials();
    assert.equal(check.ok, false);
    assert.ok(!check.message.includes(key));
  });

  it('one bad line: the error names the line and the field, and nothing is sent', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => chat(i));
    lines[12] = JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'wizard', content: 'a' }] });
    await fs.writeFile(dataset, lines.join('\n') + '\n');
    const job = newJob(dataLayout(dir), { provider: 'together', name: 'ft', submission: {} });
    await assert.rejects(provider.submit(job, { options: { model: MODEL, trainingFile: dataset } }, ctx()), (e: Error) => {
      assert.ok(e instanceof DatasetInvalidError);
      assert.match(e.message, /train\.jsonl:13 \(messages\[1\]\.role\)/);
      assert.match(e.message, /Nothing was uploaded/);
      return true;
    });
    assert.equal(server.requests.length, 0, 'not one request reached Together');
  });

  it('a job Together fails: its error text on the job and in the log; the upload is still deleted', async () => {
    server.outcome = 'error';
    const job = await submitted();
    const { m } = monitor();
    const { job: done } = await followToEnd(m, job.id);
    m.dispose();
    assert.equal(done.status, 'failed');
    assert.equal(done.error, 'CUDA out of memory at step 2');
    assert.match(await fs.readFile(done.logPath!, 'utf8'), /error job_error: CUDA out of memory at step 2/);
    assert.equal(done.outputs.length, 0);
    assert.equal(server.files.size, 0);
  });

  it('cancels a running job: cancel_requested, then cancelled, and cleans up', async () => {
    const job = await submitted();
    const { m } = monitor();
    await m.refresh((await history.get(job.id))!);
    await m.refresh((await history.get(job.id))!);
    const running = (await history.get(job.id))!;
    assert.equal(running.status, 'running');
    await provider.cancel(running, ctx());
    await history.update(job.id, (j) => ({ ...j, cancelRequestedAt: new Date().toISOString() }));
    assert.equal(server.jobs.get(job.providerJobId!)!.status, 'cancel_requested');
    const { job: done } = await followToEnd(m, job.id);
    m.dispose();
    assert.equal(done.status, 'cancelled');
    assert.match(await fs.readFile(done.logPath!, 'utf8'), /Job cancelled/);
    assert.equal(server.files.size, 0);
    // Cancelling again (already ended) is not an error.
    await provider.cancel(done, ctx());
  });

  it('a network drop while polling shows as "Reconnecting" on the job, then it goes on with no event twice', async () => {
    const job = await submitted({ downloadWeights: false });
    const { m } = monitor();
    await m.refresh((await history.get(job.id))!);
    // The SDK retries a read twice by itself: three drops in a row reach us.
    server.fail({ method: 'GET', path: /^\/fine-tunes\/ft-[^/]+$/, drop: true, times: 3 });
    const during = (await m.refresh((await history.get(job.id))!))!;
    assert.match(during.statusDetail ?? '', /^Reconnecting: reconnecting to Together/);
    assert.notEqual(during.status, 'failed');
    const { job: done } = await followToEnd(m, job.id);
    m.dispose();
    assert.equal(done.status, 'succeeded');
    const lines = (await fs.readFile(done.logPath!, 'utf8')).trim().split('\n');
    assert.equal(new Set(lines).size, lines.length);
    assert.equal(lines.length, server.jobs.get(job.providerJobId!)!.events.length);
  });

  it('a validation file is uploaded beside the training file, named on the job, and both are deleted at the end', async () => {
    const val = path.join(dir, 'val.jsonl');
    await fs.writeFile(val, Array.from({ length: 5 }, (_, i) => chat(100 + i)).join('\n') + '\n');
    const job = await submitted({ validationFile: val, evaluations: 2, downloadWeights: false });
    const uploads = job.metadata.finetuneUploads as { role: string; id: string }[];
    assert.deepEqual(uploads.map((u) => u.role), ['training', 'validation']);
    assert.equal(server.jobs.get(job.providerJobId!)!.validation_file, uploads[1]!.id);
    assert.equal(server.files.size, 2);
    const { m } = monitor();
    await followToEnd(m, job.id);
    m.dispose();
    assert.equal(server.files.size, 0);
  });

  it('a create Together refuses (422): the file this submission uploaded is deleted again, no job', async () => {
    server.fail({ method: 'POST', path: /^\/fine-tunes$/, status: 422 });
    const job = newJob(dataLayout(dir), { provider: 'together', name: 'ft', submission: {} });
    await assert.rejects(provider.submit(job, { options: { model: MODEL, trainingFile: dataset } }, ctx()), /Together refused the request \(HTTP 422\)/);
    assert.equal(server.jobs.size, 0);
    assert.equal(server.count('POST', /^\/files\/upload$/), 1);
    assert.equal(server.files.size, 0, 'nothing of the refused submission left at Together');
  });

  it('with a cost ceiling (spending limits): Together\'s estimate over it, or no estimate at all, stops before the create and deletes the upload; under it the estimate is on the job', async () => {
    const job = newJob(dataLayout(dir), { provider: 'together', name: 'ft', workspace: dir });
    const request = (maxCostUsd: number) => ({ options: { model: MODEL, trainingFile: dataset, epochs: 2 }, maxCostUsd });
    // 50 lines × 100 tokens × 2 epochs = 10,000 tokens at $0.48/1M = $0.0048.
    await assert.rejects(provider.submit(job, request(0.004), ctx()), (e: Error) => e instanceof PriceAboveLimitError && e.estimateUsd === 0.0048);
    assert.equal(server.files.size, 0, 'upload deleted');
    assert.equal(server.jobs.size, 0);
    // Together never has a figure (still validating, every time): no price is no pass while limits apply.
    const quick = new TogetherProvider({ getApiKey: async () => key, baseUrl: () => server.base, timeoutMs: 3000, cacheMs: 0, estimateAttempts: 3, estimateRetryMs: 10 });
    server.estimatePendingPolls = 3;
    await assert.rejects(quick.submit(job, request(100), ctx()), (e: Error) => e instanceof PriceAboveLimitError && e.estimateUsd === undefined && /train_file_not_validated/.test(e.message));
    assert.equal(server.files.size, 0);
    assert.equal(server.jobs.size, 0);
    quick.dispose();
    const ok = await provider.submit(job, request(0.005), ctx());
    assert.deepEqual(ok.metadata?.providerEstimate, { usd: 0.0048, source: 'Together estimate-price', trainTokens: 10_000, evalTokens: 0 });
    assert.equal(server.jobs.size, 1);
    assert.ok(logs.some((l) => /Together estimates \$0\.00 for this job \(10000 training \+ 0 evaluation tokens\)/.test(l)));
  });

  it('resumes from a checkpoint: from_checkpoint reaches Together', async () => {
    const job = await submitted({ fromCheckpoint: 'ft-0000-previous:12' });
    assert.equal(server.jobs.get(job.providerJobId!)!.from_checkpoint, 'ft-0000-previous:12');
  });
});
