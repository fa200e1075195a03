import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateFineTune, TogetherApi, TogetherApiError, TogetherJob, remoteFileName, sha256File } from '../../../src/providers/together/api';
import { FakeTogether } from '../../support/together-server/server';

/** The real together-ai SDK, through our wrapper, against the stand-in built from Together's reference. */
describe('together api layer (real SDK against the Together stand-in)', function () {
  this.timeout(20_000);
  let server: FakeTogether;
  let api: TogetherApi;
  let dir: string;
  let dataset: string;

  const chat = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: `question ${i}` }, { role: 'assistant', content: `answer ${i} ✓` }] });
  const params = (training_file: string, suffix = 'ct-job0001'): CreateFineTune => ({
    model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference', training_file, suffix, n_epochs: 2,
    training_type: { type: 'Lora', lora_r: 16, lora_alpha: 32 },
  });

  beforeEach(async () => {
    server = new FakeTogether();
    await server.start();
    api = new TogetherApi({ apiKey: server.apiKey, baseUrl: server.base, timeoutMs: 5000, maxRetryAfterMs: 3000 });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-together-'));
    dataset = path.join(dir, 'train.jsonl');
    // ~3 MB: many 64 KiB reads, so a streamed body shows as many progress steps.
    await fs.writeFile(dataset, Array.from({ length: 30_000 }, (_, i) => chat(i)).join('\n') + '\n');
  });
  afterEach(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function uploaded(): Promise<string> {
    return (await api.uploadFineTuneFile(dataset)).file.id;
  }

  /** Poll like the monitor will, collecting every status seen. */
  async function pollToEnd(id: string): Promise<{ job: TogetherJob; seen: string[]; progress: boolean }> {
    const seen: string[] = [];
    let progress = false;
    for (let i = 0; i < 50; i++) {
      const job = await api.retrieveFineTune(id);
      if (seen.at(-1) !== job.status) seen.push(job.status);
      if (job.status === 'running' && job.progress?.estimate_available) progress = true;
      if (['completed', 'cancelled', 'error'].includes(job.status)) return { job, seen, progress };
    }
    throw new Error(`job ${id} never ended: ${seen.join(' → ')}`);
  }

  it('uploads a dataset streamed from disk under a name that carries its sha256; the stand-in checked every line', async () => {
    const steps: number[] = [];
    const { file, reused } = await api.uploadFineTuneFile(dataset, { onProgress: (sent) => steps.push(sent) });
    const size = (await fs.stat(dataset)).size;
    const sha = await sha256File(dataset);
    assert.equal(reused, false);
    assert.equal(file.bytes, size);
    assert.equal(file.filename, remoteFileName(dataset, sha));
    assert.equal(file.LineCount, 30_000, 'the stand-in counted the lines it parsed');
    assert.equal(file.validation_report?.valid, true);
    assert.equal(server.files.get(file.id)!.sha256, sha, 'the bytes arrived intact');
    assert.ok(steps.length > 20 && steps[0]! <= 64 * 1024, `sent in small steps from disk (${steps.length} steps, first ${steps[0]})`);
    assert.equal(steps.at(-1), size);
  });

  it('a 96 MB upload stays in constant memory (client and stand-in both stream)', async () => {
    const big = path.join(dir, 'big.jsonl');
    const line = JSON.stringify({ text: 'x'.repeat(96 * 1024 - 12) }) + '\n';
    const fh = await fs.open(big, 'w');
    for (let i = 0; i < 1024; i++) await fh.write(line);
    await fh.close();
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
    try {
      const { file } = await api.uploadFineTuneFile(big);
      assert.equal(file.bytes, 1024 * Buffer.byteLength(line));
      assert.equal(file.validation_report?.valid, true);
    } finally {
      clearInterval(sampler);
    }
    assert.ok(peak - before < 48 * 1024 * 1024, `RSS grew by ${Math.round((peak - before) / 1048576)} MB for a 96 MB file`);
  });

  it('reuses an identical file instead of uploading it again', async () => {
    const first = await api.uploadFineTuneFile(dataset);
    const second = await api.uploadFineTuneFile(dataset);
    assert.equal(second.reused, true);
    assert.equal(second.file.id, first.file.id);
    assert.equal(server.count('POST', /^\/files\/upload$/), 1);
  });

  it('an upload whose answer was lost is found by name and size, not sent again', async () => {
    server.fail({ method: 'POST', path: /^\/files\/upload$/, afterHandling: true, drop: true });
    const { file } = await api.uploadFineTuneFile(dataset);
    assert.equal(server.count('POST', /^\/files\/upload$/), 1);
    assert.equal(server.files.size, 1);
    assert.ok(server.files.has(file.id));
  });

  it('a dataset Together refuses names the line, and is not reused later', async () => {
    await fs.writeFile(dataset, `${chat(1)}\n${chat(2)}\n{"messages": [oops\n`);
    await assert.rejects(api.uploadFineTuneFile(dataset), /Together refused the dataset: line 3: not valid JSON/);
    await assert.rejects(api.uploadFineTuneFile(dataset), /line 3/);
    assert.equal(server.count('POST', /^\/files\/upload$/), 2, 'the refused upload was not taken as reusable');
    assert.equal(server.files.size, 0, 'refused files are deleted from Together');
  });

  it('takes the base URL from TOGETHER_BASE_URL when none is given', async () => {
    const before = process.env.TOGETHER_BASE_URL;
    process.env.TOGETHER_BASE_URL = server.base;
    try {
      const fromEnv = new TogetherApi({ apiKey: server.apiKey });
      assert.equal(fromEnv.baseUrl, server.base);
      assert.deepEqual(await fromEnv.listFineTunes(), []);
      assert.equal(server.count('GET', /^\/fine-tunes$/), 1);
    } finally {
      if (before === undefined) delete process.env.TOGETHER_BASE_URL; else process.env.TOGETHER_BASE_URL = before;
    }
  });

  it('an aborted upload stops and leaves nothing on Together', async () => {
    const ac = new AbortController();
    const p = api.uploadFineTuneFile(dataset, { signal: ac.signal, onProgress: (sent) => { if (sent > 256 * 1024) ac.abort(); } });
    await assert.rejects(p, /cancelled/);
    assert.equal(server.files.size, 0);
  });

  it('creates a job and polls it through every state with progress and events, then downloads the LoRA', async () => {
    const { job, recovered } = await api.createFineTune(params(await uploaded()));
    assert.equal(recovered, false);
    assert.equal(job.status, 'pending');
    assert.match(job.model_output_name ?? '', /-ct-job0001-/);
    const end = await pollToEnd(job.id);
    assert.deepEqual(end.seen, ['queued', 'running', 'compressing', 'uploading', 'completed']);
    assert.ok(end.progress, 'progress.seconds_remaining was reported while running');
    assert.ok((end.job.total_price ?? 0) > 0);
    const events = await api.listEvents(job.id);
    assert.deepEqual(events.filter((e) => e.type === 'checkpoint_save').map((e) => `${e.step}/${e.total_steps}`), ['1/3', '2/3', '3/3']);
    assert.equal(events.at(-1)!.type, 'job_complete');

    const dest = path.join(dir, 'outputs', job.id, 'adapter.tar.zst');
    const bytes = await api.download(job.id, dest);
    assert.equal(bytes, server.weights.length);
    assert.equal(createHash('sha256').update(await fs.readFile(dest)).digest('hex'), createHash('sha256').update(server.weights).digest('hex'));
    assert.equal(existsSync(`${dest}.partial`), false);
  });

  it('an unknown job is a clear 404', async () => {
    const e = await api.retrieveFineTune('ft-does-not-exist').then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof TogetherApiError);
    assert.equal(e.status, 404);
    assert.match(e.message, /Fine-tune ft-does-not-exist: not found on Together: Fine-tune job ft-does-not-exist not found/);
  });

  it('a job Together fails carries its error event', async () => {
    server.outcome = 'error';
    const { job } = await api.createFineTune(params(await uploaded()));
    const end = await pollToEnd(job.id);
    assert.equal(end.job.status, 'error');
    const events = await api.listEvents(job.id);
    assert.equal(events.at(-1)!.type, 'job_error');
    assert.match(events.at(-1)!.message, /CUDA out of memory/);
  });

  it('cancels a running job: cancel_requested, then cancelled', async () => {
    const { job } = await api.createFineTune(params(await uploaded()));
    await api.retrieveFineTune(job.id); // queued
    await api.retrieveFineTune(job.id); // running
    const c = await api.cancelFineTune(job.id);
    assert.equal(c.status, 'cancel_requested');
    const end = await pollToEnd(job.id);
    assert.equal(end.job.status, 'cancelled');
    await assert.rejects(api.download(job.id, path.join(dir, 'x')), /not completed/);
  });

  it('a wrong key gives one clear message without the key, and creates nothing', async () => {
    const wrong = 'tgp_v1_wrongwrongwrongwrong0123';
    const bad = new TogetherApi({ apiKey: wrong, baseUrl: server.base, timeoutMs: 5000 });
    for (const call of [() => bad.listFineTunes(), () => bad.uploadFineTuneFile(dataset), () => bad.createFineTune(params('file-x'))]) {
      const e = await call().then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof TogetherApiError, String(e));
      assert.equal(e.status, 401);
      assert.match(e.message, /Together rejected the API key \(HTTP 401\)/);
      assert.ok(!e.message.includes(wrong) && !(e.stack ?? '').includes(wrong));
    }
    assert.equal(server.jobs.size, 0);
    assert.equal(server.files.size, 0);
  });

  it('a 429 on a read is retried after Retry-After (by the SDK)', async () => {
    server.fail({ method: 'GET', path: /^\/fine-tunes$/, status: 429, retryAfter: '1' });
    const t0 = Date.now();
    await api.listFineTunes();
    assert.ok(Date.now() - t0 >= 900, `waited ${Date.now() - t0} ms`);
    assert.equal(server.count('GET', /^\/fine-tunes$/), 2);
  });

  it('a 429 on create waits for Retry-After and creates once', async () => {
    const file = await uploaded();
    server.fail({ method: 'POST', path: /^\/fine-tunes$/, status: 429, retryAfter: '1' });
    const t0 = Date.now();
    await api.createFineTune(params(file));
    assert.ok(Date.now() - t0 >= 900, `waited ${Date.now() - t0} ms`);
    assert.equal(server.count('POST', /^\/fine-tunes$/), 2);
    assert.equal(server.jobs.size, 1);
  });

  it('a create whose connection dropped after Together created the job is looked up, not created twice', async () => {
    const file = await uploaded();
    const other = (await api.createFineTune(params(file, 'ct-other01'))).job; // same file, another job
    server.fail({ method: 'POST', path: /^\/fine-tunes$/, afterHandling: true, drop: true });
    const { job, recovered } = await api.createFineTune(params(file, 'ct-dropped1'));
    assert.equal(recovered, true);
    assert.equal(server.jobs.size, 2, 'exactly one job was created by the dropped call');
    assert.equal(server.count('POST', /^\/fine-tunes$/), 2);
    assert.notEqual(job.id, other.id, 'the lookup matched the suffix, not just the file');
    assert.equal(job.suffix, 'ct-dropped1');
  });

  it('a create that timed out after Together created the job is looked up, not created twice', async () => {
    const file = await uploaded();
    const slow = new TogetherApi({ apiKey: server.apiKey, baseUrl: server.base, timeoutMs: 300 });
    server.fail({ method: 'POST', path: /^\/fine-tunes$/, afterHandling: true, delayMs: 1000 });
    const { recovered } = await slow.createFineTune(params(file, 'ct-slow0001'));
    assert.equal(recovered, true);
    assert.equal(server.jobs.size, 1);
  });

  it('a 5xx on create that never reached the job store creates it exactly once', async () => {
    const file = await uploaded();
    server.fail({ method: 'POST', path: /^\/fine-tunes$/, status: 503 });
    const { recovered } = await api.createFineTune(params(file, 'ct-503once'));
    assert.equal(recovered, false);
    assert.equal(server.jobs.size, 1);
    assert.equal(server.count('POST', /^\/fine-tunes$/), 2);
    assert.equal(server.count('GET', /^\/fine-tunes$/), 1, 'looked up before sending again');
  });

  it('when the lookup itself fails, it stops and says to check rather than create again', async () => {
    const file = await uploaded();
    server.fail({ method: 'POST', path: /^\/fine-tunes$/, status: 502 });
    server.fail({ method: 'GET', path: /^\/fine-tunes$/, status: 503, times: 10 });
    await assert.rejects(api.createFineTune(params(file, 'ct-unsure01')), /Could not confirm whether the job was created \(suffix ct-unsure01\)/);
    assert.equal(server.count('POST', /^\/fine-tunes$/), 1);
  });
});
