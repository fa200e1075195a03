import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { JobSchema, type Job } from '../../../src/core/jobs/schema';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import type { ProviderContext, StatusUpdate, TrainingProvider } from '../../../src/core/providers/types';

/**
 * Finalisation (output downloads, results pushes) across processes sharing one history file: two
 * JobHistory instances on the same folder behave like two VS Code windows (the file lock is
 * cross-process). The provider is a stand-in whose finalize() waits for the test to let it go, so
 * the test controls when a slow download "finishes".
 */
class SlowFinalizeProvider implements TrainingProvider {
  readonly id = 'local' as const;
  readonly displayName = 'stand-in';
  readonly capabilities = { uploadsData: false, cancellable: true, logs: 'pull', pricing: 'none' } as unknown as TrainingProvider['capabilities'];
  finalizeCalls: string[] = [];
  aborted: string[] = [];
  statusCalls: string[] = [];
  private release = new Map<string, () => void>();
  /** Let go before finalize() was even called (the monitor starts it in the background, a little later). */
  private released = new Set<string>();
  constructor(private readonly statuses: Record<string, StatusUpdate['status']>) {}
  async validateCredentials() { return { ok: true } as never; }
  async listHardware() { return []; }
  async submit(): Promise<never> { throw new Error('not used'); }
  async status(job: Job): Promise<StatusUpdate> {
    this.statusCalls.push(job.id);
    return { status: this.statuses[job.id] ?? 'running' };
  }
  async fetchLogs() { return null; }
  async cancel() {}
  async finalize(job: Job, ctx: ProviderContext) {
    this.finalizeCalls.push(job.id);
    await new Promise<void>((resolve, reject) => {
      if (this.released.delete(job.id)) return resolve();
      this.release.set(job.id, resolve);
      ctx.signal?.addEventListener('abort', () => { this.aborted.push(job.id); reject(ctx.signal!.reason); }, { once: true });
    });
    return { metadata: { downloaded: job.id } };
  }
  finish(id: string) {
    const go = this.release.get(id);
    this.release.delete(id);
    if (go) go();
    else this.released.add(id);
  }
}

describe('job monitor: finalisation claims and background finalisation', function () {
  this.timeout(20_000);
  let dir: string;
  const monitors: JobMonitor[] = [];
  beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-monitor-')); });
  afterEach(async () => {
    for (const m of monitors.splice(0)) m.dispose();
    // A disposed monitor may still be releasing its claim (one history write): retry while it lands.
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });

  const job = (id: string, over: Partial<Job> = {}): Job => JobSchema.parse({
    id, name: id, provider: 'local', status: 'running', providerJobId: `p-${id}`, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), ...over,
  });
  const monitorOn = (provider: TrainingProvider, opts: { finalizeLeaseMs?: number } = {}) => {
    const history = new JobHistory(dir);
    const providers = new ProviderRegistry();
    providers.register('local', () => provider);
    const m = new JobMonitor(history, providers, { dataHome: dir, intervalMs: 50, ...opts });
    monitors.push(m);
    return { history, monitor: m };
  };
  async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('two windows on one history: only one downloads and pushes the outputs of an ended job', async () => {
    const provider = new SlowFinalizeProvider({ a: 'succeeded' });
    const w1 = monitorOn(provider);
    const w2 = monitorOn(provider);
    await w1.history.add(job('a'));
    w1.monitor.poke();
    w2.monitor.poke();
    await until('a finalisation to start', () => provider.finalizeCalls.length > 0);
    // Both windows keep polling while the first one is downloading.
    for (let i = 0; i < 4; i++) { w1.monitor.poke(); w2.monitor.poke(); await new Promise((r) => setTimeout(r, 60)); }
    assert.deepEqual(provider.finalizeCalls, ['a']);
    const claim = (await w2.history.get('a'))!.metadata.finalizing as { by: string };
    assert.match(claim.by, new RegExp(`:${process.pid}:`));
    provider.finish('a');
    const done = await until('finalized', async () => { const j = await w2.history.get('a'); return j?.metadata.finalized === true ? j : undefined; });
    assert.equal(done.metadata.downloaded, 'a');
    assert.equal(done.metadata.finalizing, undefined, 'the claim is released');
    assert.deepEqual(provider.finalizeCalls, ['a']);
  });

  it('a claim left by a process that died is taken over once its lease lapses; a live one is not', async () => {
    const provider = new SlowFinalizeProvider({});
    const { history, monitor } = monitorOn(provider, { finalizeLeaseMs: 60_000 });
    const stale = new Date(Date.now() - 120_000).toISOString();
    const fresh = new Date().toISOString();
    await history.add(job('dead', { status: 'succeeded', metadata: { finalizing: { by: 'other-host:1:abc', at: stale } } }));
    await history.add(job('alive', { status: 'succeeded', metadata: { finalizing: { by: 'other-host:2:def', at: fresh } } }));
    monitor.poke();
    await until('the stale claim taken over', () => provider.finalizeCalls.includes('dead'));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(provider.finalizeCalls, ['dead'], 'the live claim is left to its owner');
    provider.finish('dead');
    await until('finalized', async () => (await history.get('dead'))?.metadata.finalized === true);
    assert.equal(((await history.get('alive'))!.metadata.finalizing as { by: string }).by, 'other-host:2:def');
  });

  it('a slow finalisation does not hold up polling of the other jobs', async () => {
    const statuses: Record<string, StatusUpdate['status']> = { slow: 'succeeded', other: 'running' };
    const provider = new SlowFinalizeProvider(statuses);
    const { history, monitor } = monitorOn(provider);
    await history.add(job('slow'));
    await history.add(job('other'));
    monitor.poke();
    await until('the slow finalisation to start', () => provider.finalizeCalls.includes('slow'));
    const polled = provider.statusCalls.filter((id) => id === 'other').length;
    await until('other polled again meanwhile', () => provider.statusCalls.filter((id) => id === 'other').length >= polled + 3);
    statuses.other = 'failed';
    await until('other ended', async () => (await history.get('other'))?.status === 'failed');
    provider.finish('other');
    provider.finish('slow');
    await until('both finalized', async () => (await history.get('slow'))?.metadata.finalized === true && (await history.get('other'))?.metadata.finalized === true);
  });

  it('stopping the monitor aborts a finalisation and releases its claim for the next window', async () => {
    const provider = new SlowFinalizeProvider({ a: 'succeeded' });
    const w1 = monitorOn(provider);
    await w1.history.add(job('a'));
    w1.monitor.poke();
    await until('finalisation started', () => provider.finalizeCalls.length === 1);
    assert.ok((await w1.history.get('a'))?.metadata.finalizing, 'claimed while it runs');
    w1.monitor.dispose();
    assert.deepEqual(provider.aborted, ['a']);
    await until('claim released', async () => (await w1.history.get('a'))?.metadata.finalizing === undefined);
    const w2 = monitorOn(provider);
    w2.monitor.poke();
    await until('the next window finalises', () => provider.finalizeCalls.length === 2);
    provider.finish('a');
    await until('finalized', async () => (await w2.history.get('a'))?.metadata.finalized === true);
  });
});

describe('job monitor: a look that lands after another process recorded the end', function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-monitor-stale-')); });
  afterEach(async () => { await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }); });

  it('a job recorded succeeded shows every step at once, before finalisation, even if its last progress line came earlier', async () => {
    const history = new JobHistory(dir);
    const logPath = path.join(dir, 'job.log');
    // The trainer's last tqdm line is at 118/120; it then saved its weights and exited 0.
    await fs.writeFile(logPath, 'Steps:  98%|█████████▊| 118/120 [00:10<00:00, 11.8it/s, loss=0.12]\nSaving final weights\n');
    await history.add(JobSchema.parse({
      id: 'j', name: 'j', provider: 'local', status: 'running', providerJobId: 'p-j', logPath,
      progress: { step: 96, totalSteps: 120, percent: 80 }, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
    }));
    const ended: TrainingProvider = {
      id: 'local', displayName: 'ended', capabilities: {} as TrainingProvider['capabilities'],
      validateCredentials: async () => ({ ok: true, message: '' }), listHardware: async () => [], submit: async () => { throw new Error('not used'); },
      fetchLogs: async () => null, cancel: async () => undefined,
      status: async (): Promise<StatusUpdate> => ({ status: 'succeeded', providerStatus: 'exited 0' }),
    };
    const providers = new ProviderRegistry();
    providers.register('local', () => ended);
    const monitor = new JobMonitor(history, providers, { dataHome: dir });
    try {
      await monitor.refresh((await history.get('j'))!, { deferFinalize: true });
      const stored = (await history.get('j'))!;
      assert.equal(stored.metadata.finalized, undefined, 'not finalised yet');
      assert.equal(stored.metadata.progressOffset, (await fs.stat(logPath)).size, 'the log was read');
      assert.deepEqual([stored.status, stored.progress.step, stored.progress.totalSteps, stored.progress.percent], ['succeeded', 120, 120, 100]);
    } finally {
      monitor.dispose();
    }
  });

  it('leaves a job another window recorded as succeeded untouched by its own older "failed" look', async () => {
    const windowA = new JobHistory(dir);
    const windowB = new JobHistory(dir);
    await windowB.add(JobSchema.parse({
      id: 'j', name: 'j', provider: 'local', status: 'running', providerJobId: 'p-j', createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
    }));
    // B's provider look is taken, then A records the real end, then B's (older) answer arrives.
    const stale: TrainingProvider = {
      id: 'local', displayName: 'stale', capabilities: {} as TrainingProvider['capabilities'],
      validateCredentials: async () => ({ ok: true, message: '' }), listHardware: async () => [], submit: async () => { throw new Error('not used'); },
      fetchLogs: async () => null, cancel: async () => undefined,
      async status(): Promise<StatusUpdate> {
        await windowA.update('j', (j) => ({ ...j, status: 'succeeded', providerStatus: 'exited 0' }));
        return { status: 'failed', providerStatus: 'killed', error: 'The training process ended without an exit code', statusDetail: 'stale' };
      },
    };
    const providers = new ProviderRegistry();
    providers.register('local', () => stale);
    const monitor = new JobMonitor(windowB, providers, { dataHome: dir });
    try {
      const after = await monitor.refresh((await windowB.get('j'))!, { deferFinalize: true });
      assert.equal(after?.status, 'succeeded');
      const stored = (await windowA.get('j'))!;
      assert.deepEqual([stored.status, stored.providerStatus, stored.error, stored.statusDetail], ['succeeded', 'exited 0', undefined, undefined]);
    } finally {
      monitor.dispose();
    }
  });
});
