import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { JobSchema, type Job } from '../../../src/core/jobs/schema';
import { JobNotifier, type ShownEvent } from '../../../src/core/notify/notifier';
import { JobEventPayloadSchema, formatRequest, buildPayload } from '../../../src/core/notify/payload';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import { fakeProvider } from '../../support/notify-worker';
import { startReceiver } from './receiver';

const ROOT = path.resolve(__dirname, '../../..');
const WORKER = path.join(ROOT, 'test/support/notify-worker.ts');
const SECRET = 'hf_SeCrEtToKeNaaaaaaaaaaaaaaaa';

function runWorker(dir: string, url: string, format = 'json'): Promise<{ code: number | null; err: string }> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', WORKER, dir, url, format], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, err })));
}

describe('notifications: job events shown once and sent once across processes', function () {
  this.timeout(90_000);
  let dir: string;
  const cleanup: Array<() => unknown> = [];
  beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-notify-')); });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });

  const job = (id: string, fake: object, over: Partial<Job> = {}): Job => JobSchema.parse({
    id, name: `run ${id}`, provider: 'local', status: 'running', providerJobId: `p-${id}`, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
    metadata: { fake, apiToken: SECRET }, ...over,
  });

  async function seed(): Promise<void> {
    const history = new JobHistory(dir);
    const log = path.join(dir, 'oom.log');
    await fs.writeFile(log, [
      `HF_TOKEN=${SECRET}`, 'epoch 1/3', ' 40%|████      | 40/100 [00:10<00:15,  4.00it/s, loss=0.3]',
      'Traceback (most recent call last):', '  File "train.py", line 10, in <module>',
      'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB', ' 40%|████      | 40/100 [00:10<00:15,  4.00it/s]', '',
    ].join('\n'));
    await history.add(job('oom', { status: 'failed', error: `The training process exited with code 1 (token=${SECRET})` }, { logPath: log }));
    await history.add(job('ok', {
      status: 'succeeded', deliveryError: 'Hugging Face refused the upload (403)',
      outputs: [{ kind: 'file', uri: '/home/alice/private/outputs/lora.safetensors' }, { kind: 'url', uri: 'https://store.example/out.zip?X-Amz-Signature=abc123sig' }],
    }, { cost: { currency: 'USD', actual: 1.25 } }));
    await history.add(job('stop', { status: 'cancelled' }));
  }

  it('two processes finalising the same jobs, a receiver failing the first attempts (500, dropped connection): one delivery per event', async () => {
    await seed();
    const rx = await startReceiver((body) => { const p = JSON.parse(body); return `${p.job.id}:${p.event}`; });
    cleanup.push(rx.close);
    const [a, b] = await Promise.all([runWorker(dir, rx.url), runWorker(dir, rx.url)]);
    assert.equal(a.code, 0, a.err);
    assert.equal(b.code, 0, b.err);
    const keys = ['oom:failed', 'ok:succeeded', 'ok:delivery-failed', 'stop:cancelled'];
    for (const key of keys) {
      const got = rx.received.filter((r) => r.key === key).map((r) => r.answered);
      assert.deepEqual(got, [500, 'dropped', 200], `${key}: each attempt once, in order, stopping at the first 200`);
    }
    assert.deepEqual([...new Set(rx.received.map((r) => r.key))].sort(), keys.slice().sort(), 'no other events');
    const history = new JobHistory(dir);
    for (const j of await history.list()) {
      for (const [kind, rec] of Object.entries(j.metadata.webhook as Record<string, { state: string; attempts: number }>)) {
        assert.deepEqual([rec.state, rec.attempts], ['delivered', 3], `${j.id}:${kind} record`);
      }
    }
    for (const r of rx.received) {
      const p = JobEventPayloadSchema.parse(JSON.parse(r.body));
      assert.equal(p.schema, 'cloud-training.job-event/1');
      assert.ok(!r.body.includes(SECRET), `no token in ${r.body}`);
      assert.ok(!r.body.includes('/home/alice'), 'no local path');
      assert.ok(!r.body.includes('abc123sig'), 'no URL signature');
      assert.ok(!r.body.includes('apiToken'), 'no metadata');
    }
    const oom = JobEventPayloadSchema.parse(JSON.parse(rx.received.find((r) => r.key === 'oom:failed' && r.answered === 200)!.body));
    assert.match(oom.reason!, /^torch\.OutOfMemoryError: CUDA out of memory/);
    assert.match(oom.reason!, /token=\[redacted\]/);
    const ok = JobEventPayloadSchema.parse(JSON.parse(rx.received.find((r) => r.key === 'ok:succeeded' && r.answered === 200)!.body));
    assert.deepEqual(ok.job.outputs, [{ kind: 'file', name: 'lora.safetensors' }, { kind: 'url', uri: 'https://store.example/out.zip' }]);
    assert.equal(ok.job.costUsd, 1.25);
    assert.equal(ok.reason, undefined);
    const df = JobEventPayloadSchema.parse(JSON.parse(rx.received.find((r) => r.key === 'ok:delivery-failed' && r.answered === 200)!.body));
    assert.equal(df.reason, 'Hugging Face refused the upload (403)');
  });

  /** In-process "windows": separate JobHistory/monitor/notifier objects on one folder (the lock is cross-process). */
  function windowOn(opts: { level?: 'all' | 'failures' | 'none'; url?: string; webhookLevel?: 'all' | 'failures' | 'none' } = {}) {
    const history = new JobHistory(dir);
    const shown: ShownEvent[] = [];
    const notifier = new JobNotifier(history, {
      show: { level: () => opts.level ?? 'all', onEvent: (e) => shown.push(e) },
      webhook: () => (opts.url ? { url: opts.url, format: 'json' } : undefined),
      webhookLevel: () => opts.webhookLevel ?? 'all',
      retry: { baseDelayMs: 50, timeoutMs: 5000 },
    });
    const providers = new ProviderRegistry();
    providers.register('local', () => fakeProvider());
    const monitor = new JobMonitor(history, providers, { dataHome: dir, intervalMs: 50, notifier });
    cleanup.push(() => monitor.dispose(), () => notifier.dispose());
    return { history, notifier, monitor, shown };
  }
  async function allFinalized(history: JobHistory): Promise<void> {
    const deadline = Date.now() + 20_000;
    while ((await history.list()).some((j) => j.metadata.finalized !== true)) {
      if (Date.now() > deadline) throw new Error('timed out waiting for finalisation');
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  it('in the editor: exactly one of two windows shows each event, with the failure reason; a reloaded window shows nothing again', async () => {
    await seed();
    const w1 = windowOn();
    const w2 = windowOn();
    w1.monitor.poke();
    w2.monitor.poke();
    await allFinalized(w1.history);
    await Promise.all([w1.notifier.scan(), w2.notifier.scan(), w1.notifier.scan(), w2.notifier.scan()]);
    const all = [...w1.shown, ...w2.shown].map((e) => `${e.job.id}:${e.kind}`).sort();
    assert.deepEqual(all, ['ok:delivery-failed', 'ok:succeeded', 'oom:failed', 'stop:cancelled']);
    const oom = [...w1.shown, ...w2.shown].find((e) => e.kind === 'failed')!;
    assert.match(oom.reason!, /CUDA out of memory/);
    assert.match(oom.title, /run oom" failed/);
    const reloaded = windowOn();
    await reloaded.notifier.scan();
    assert.deepEqual(reloaded.shown, []);
    const n = (await w1.history.get('oom'))!.metadata.notified as Record<string, string>;
    assert.ok(Date.parse(n.failed!) > 0, 'the claim is recorded on the job');
  });

  it('level "failures" shows and sends only failures; "none" nothing', async () => {
    await seed();
    const rx = await startReceiver((body) => { const p = JSON.parse(body); return `${p.job.id}:${p.event}`; }, []);
    cleanup.push(rx.close);
    const quiet = windowOn({ level: 'none' });
    const w = windowOn({ level: 'failures', url: rx.url, webhookLevel: 'failures' });
    w.monitor.poke();
    await allFinalized(w.history);
    await quiet.notifier.scan();
    await w.notifier.flush(10_000);
    assert.deepEqual(quiet.shown, []);
    assert.deepEqual(w.shown.map((e) => `${e.job.id}:${e.kind}`).sort(), ['ok:delivery-failed', 'oom:failed']);
    assert.deepEqual(rx.received.map((r) => r.key).sort(), ['ok:delivery-failed', 'oom:failed']);
    // A window with level "all" opened later still shows what the "failures" one left.
    const later = windowOn({ level: 'all' });
    await later.notifier.scan();
    assert.deepEqual(later.shown.map((e) => `${e.job.id}:${e.kind}`).sort(), ['ok:succeeded', 'stop:cancelled']);
  });

  it('a delivery interrupted by a restart is continued by the next process; a 4xx is given up at once', async () => {
    const history = new JobHistory(dir);
    const at = new Date().toISOString();
    // A process died mid-attempt (its lease has lapsed) after one failed attempt.
    await history.add(job('resume', { status: 'failed' }, { status: 'failed', metadata: { finalized: true, events: { failed: at }, webhook: { failed: { state: 'sending', attempts: 1, by: 'dead:1:x', leaseUntil: new Date(Date.now() - 1000).toISOString() } } } }));
    await history.add(job('fresh', { status: 'failed' }, { status: 'failed', metadata: { finalized: true, events: { failed: at }, webhook: { failed: { state: 'sending', attempts: 0, by: 'alive:2:y', leaseUntil: new Date(Date.now() + 60_000).toISOString() } } } }));
    const rx = await startReceiver((body) => JSON.parse(body).job.id, []);
    cleanup.push(rx.close);
    const n = new JobNotifier(history, { webhook: () => ({ url: rx.url, format: 'json' }), retry: { baseDelayMs: 50 } });
    cleanup.push(() => n.dispose());
    await n.flush(3000);
    assert.deepEqual(rx.received.map((r) => r.key), ['resume'], 'the lapsed claim is taken over, the live one left to its owner');
    const rec = (await history.get('resume'))!.metadata.webhook as Record<string, { state: string; attempts: number }>;
    assert.deepEqual([rec.failed!.state, rec.failed!.attempts], ['delivered', 2]);

    await history.add(job('gone', { status: 'failed' }, { status: 'failed', metadata: { finalized: true, events: { failed: at } } }));
    const { createServer } = await import('node:http');
    const srv = createServer((_q, s) => { s.writeHead(404).end(); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
    const n3 = new JobNotifier(history, { webhook: () => ({ url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/x`, format: 'json' }), retry: { baseDelayMs: 50 } });
    cleanup.push(() => n3.dispose());
    await n3.flush(3000);
    const gone = ((await history.get('gone'))!.metadata.webhook as Record<string, { state: string; attempts: number; error: string }>).failed!;
    assert.deepEqual([gone.state, gone.attempts, gone.error], ['failed', 1, 'HTTP 404']);
  });

  it('formats: Slack {text}, Discord {content} (≤ 2000), ntfy plain text with Title/Tags, sent to the receiver', async () => {
    const j = JobSchema.parse({ ...job('f', {}), name: 'lora ü', status: 'failed', finishedAt: new Date().toISOString() });
    const p = buildPayload(j, 'failed', new Date().toISOString(), 'CUDA out of memory');
    const rx = await startReceiver((_b, h) => String(h['x-format'] ?? ''), []);
    cleanup.push(rx.close);
    for (const format of ['slack', 'discord', 'ntfy'] as const) {
      const req = formatRequest(format, p);
      const res = await fetch(rx.url, { method: 'POST', headers: { ...req.headers, 'x-format': format }, body: req.body });
      assert.equal(res.status, 200);
    }
    const by = (f: string) => rx.received.find((r) => r.key === f)!;
    assert.deepEqual(Object.keys(JSON.parse(by('slack').body)), ['text']);
    assert.match(JSON.parse(by('slack').body).text, /failed[\s\S]*CUDA out of memory/);
    assert.deepEqual(Object.keys(JSON.parse(by('discord').body)), ['content']);
    const ntfy = by('ntfy');
    assert.equal(ntfy.headers.tags, 'x');
    assert.match(String(ntfy.headers.title), /^=\?UTF-8\?B\?/);
    assert.match(Buffer.from(String(ntfy.headers.title).slice(10, -2), 'base64').toString('utf8'), /lora ü" failed/);
    assert.match(ntfy.body, /^Reason: CUDA out of memory/);
    const long = formatRequest('discord', { ...p, reason: 'x'.repeat(5000) });
    assert.ok(JSON.parse(long.body).content.length <= 2000);
  });
});

describe('notifications: a process stopping mid-attempt', function () {
  this.timeout(30_000);
  it('aborts the request and hands the event back, so the next process sends it at once', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-notify-stop-'));
    const { createServer } = await import('node:http');
    let hits = 0;
    const hanging = createServer(() => { hits++; /* never answers */ });
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    const rx = await startReceiver(() => 'k', []);
    try {
      const history = new JobHistory(dir);
      await history.add(JobSchema.parse({ id: 'j', name: 'j', provider: 'local', status: 'failed', createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), metadata: { finalized: true, events: { failed: new Date().toISOString() } } }));
      const first = new JobNotifier(history, { webhook: () => ({ url: `http://127.0.0.1:${(hanging.address() as { port: number }).port}/`, format: 'json' }) });
      void first.scan();
      const deadline = Date.now() + 10_000;
      while (hits === 0) { if (Date.now() > deadline) throw new Error('no request'); await new Promise((r) => setTimeout(r, 20)); }
      first.dispose();
      while (((await history.get('j'))!.metadata.webhook as Record<string, { state: string }>).failed!.state !== 'pending') {
        if (Date.now() > deadline) throw new Error('not handed back'); await new Promise((r) => setTimeout(r, 20));
      }
      const next = new JobNotifier(history, { webhook: () => ({ url: rx.url, format: 'json' }) });
      await next.flush(5000);
      next.dispose();
      const rec = ((await history.get('j'))!.metadata.webhook as Record<string, { state: string; attempts: number }>).failed!;
      assert.deepEqual([rec.state, rec.attempts, rx.received.length], ['delivered', 1, 1]);
    } finally {
      hanging.closeAllConnections(); hanging.close();
      await rx.close();
      await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });
});
