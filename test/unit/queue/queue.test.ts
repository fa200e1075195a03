import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../../src/cli/main';
import { runJobs } from '../../../src/cli/commands/jobs';
import { ConsentMemory } from '../../../src/core/consent/memory';
import { SpendingLimitError, SpendingLimitsSchema } from '../../../src/core/cost/limits';
import { cancelJob } from '../../../src/core/jobs/cancel';
import { groupJobs } from '../../../src/core/jobs/grouping';
import { JobHistory } from '../../../src/core/jobs/history';
import { newJob } from '../../../src/core/jobs/factory';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { isTerminal, type Job } from '../../../src/core/jobs/schema';
import { dataLayout, type DataLayout } from '../../../src/core/paths';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import type { TrainingProvider } from '../../../src/core/providers/types';
import { capacityResolver, configuredCapacity } from '../../../src/core/queue/capacity';
import { JobQueue, asQueued, queueOrder, queuePosition } from '../../../src/core/queue/queue';
import { isLocallyQueued, localQueueOf } from '../../../src/core/queue/schema';
import { simpleConfigReader } from '../../../src/core/submit/config-reader';
import { submitBatch, submitJob, type SubmitDeps } from '../../../src/core/submit/pipeline';
import { SubmitError } from '../../../src/core/submit/steps';
import { LocalProvider } from '../../../src/providers/local/provider';
import { capturedIo } from '../../support/captured-io';
import { FilePackager, UploadingTestProvider, makeWorkspace } from '../submit/fixtures';

const ROOT = path.resolve(__dirname, '../../..');
const WORKER = path.join(ROOT, 'test/support/queue-worker.ts');

interface Env { root: string; layout: DataLayout; history: JobHistory; providers: ProviderRegistry; local: LocalProvider }

function env(root: string, localEnv?: NodeJS.ProcessEnv): Env {
  const layout = dataLayout(path.join(root, 'home'));
  const history = new JobHistory(layout.historyDir);
  const local = new LocalProvider({ jobsDir: layout.jobsDir, killGraceMs: 500, goneGraceMs: 100, env: localEnv });
  const providers = new ProviderRegistry();
  providers.register('local', () => local);
  return { root, layout, history, providers, local };
}

/** A job waiting in the local queue, as the pipeline records it. */
async function queued(e: Env, command: string, o: { priority?: number; after?: string; at?: Date; name?: string } = {}): Promise<Job> {
  const at = o.at ?? new Date();
  const job = newJob(e.layout, { provider: 'local', name: o.name ?? command, hardware: 'local' }, at);
  return e.history.add(asQueued(job, 'local', { command, cwd: e.root, hardware: 'local' }, { priority: o.priority, after: o.after }, at));
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

const lines = async (file: string) => (existsSync(file) ? (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean) : []);

describe('queue: one per machine (local target, real processes)', function () {
  this.timeout(60_000);
  let root: string;
  let e: Env;
  const monitors: JobMonitor[] = [];
  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-queue-'));
    e = env(root);
  });
  afterEach(async () => {
    for (const m of monitors.splice(0)) m.dispose();
    await e.providers.dispose();
    await fs.rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });

  function monitorWithQueue(capacity = 1): { monitor: JobMonitor; queue: JobQueue } {
    const queue = new JobQueue(e.history, e.providers, { dataHome: e.layout.home, capacity: async () => capacity });
    const monitor = new JobMonitor(e.history, e.providers, { dataHome: e.layout.home, intervalMs: 30, queue, gpuSampleIntervalMs: 0 });
    monitors.push(monitor);
    return { monitor, queue };
  }

  it('capacity 1: the second job is queued, shown under Queued with its position, and starts by itself after the first ends', async () => {
    const deps: SubmitDeps = {
      history: e.history, layout: e.layout, providers: e.providers, config: simpleConfigReader,
      consent: { policy: 'ask', memory: new ConsentMemory(e.layout.home), ask: async () => 'once' },
      limits: SpendingLimitsSchema.parse({}),
      queue: { capacity: async () => 1 },
    };
    const marks = path.join(root, 'marks');
    const cmd = `echo start-{job_id} >> ${marks}; sleep 0.6; echo end-{job_id} >> ${marks}`;
    const first = await submitJob({ provider: 'local', command: cmd, cwd: root }, deps);
    const second = await submitJob({ provider: 'local', command: cmd, cwd: root }, deps);
    assert.equal(first.job.status, 'running');
    assert.equal(second.job.status, 'queued');
    assert.equal(second.job.providerJobId, undefined);
    assert.ok(isLocallyQueued(second.job));
    const jobs = await e.history.list();
    assert.equal(queuePosition(jobs.find((j) => j.id === second.job.id)!, jobs), 1);
    assert.deepEqual(groupJobs(jobs).map((g) => [g.id, g.jobs.map((j) => j.id)]), [['running', [first.job.id]], ['queued', [second.job.id]]]);
    // Nothing of the second job reached the machine.
    assert.equal(existsSync(path.join(e.layout.jobsDir, second.job.id)), false);

    const { monitor } = monitorWithQueue(1);
    monitor.poke();
    const done = await until('both succeeded', async () => {
      const all = await e.history.list();
      return all.every((j) => j.status === 'succeeded' && j.metadata.finalized === true) && all;
    });
    const seen = await lines(marks);
    assert.deepEqual(seen, [`start-${first.job.id}`, `end-${first.job.id}`, `start-${second.job.id}`, `end-${second.job.id}`]);
    const started = done.find((j) => j.id === second.job.id)!;
    assert.ok(started.providerJobId);
    assert.equal(started.metadata.queueStart, undefined, 'the start claim is released');
    assert.equal(typeof started.metadata.startedFromQueueAt, 'string');
  });

  it('two independent processes racing over one history start each queued job exactly once, never two at a time', async () => {
    const marks = path.join(root, 'marks');
    const cmd = `echo start-{job_id} >> ${marks}; sleep 0.4; echo end-{job_id} >> ${marks}`;
    const t0 = Date.now();
    const a = await queued(e, cmd, { at: new Date(t0) });
    const b = await queued(e, cmd, { at: new Date(t0 + 1) });
    const c = await queued(e, cmd, { at: new Date(t0 + 2) });
    const run = () => new Promise<{ started: string[] }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--require', 'tsx/cjs', WORKER, e.layout.home, '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { err += d; });
      const kill = setTimeout(() => child.kill('SIGKILL'), 50_000);
      child.on('exit', (code) => {
        clearTimeout(kill);
        if (code !== 0) return reject(new Error(`worker exited ${code}: ${err}`));
        try { resolve(JSON.parse(out.trim().split('\n').pop()!)); } catch { reject(new Error(`worker said: ${out} ${err}`)); }
      });
    });
    const [p, q] = await Promise.all([run(), run()]);
    const all = [...p.started, ...q.started].sort();
    assert.deepEqual(all, [a.id, b.id, c.id].sort(), `each job started once (by ${JSON.stringify(p.started)} / ${JSON.stringify(q.started)})`);
    // Capacity 1, in order: each job ended before the next one started.
    assert.deepEqual(await lines(marks), [a, b, c].flatMap((j) => [`start-${j.id}`, `end-${j.id}`]));
    for (const j of await e.history.list()) assert.equal(j.status, 'succeeded', j.error);
  });

  it('priority first, then submission time; Move to Top puts a job above the current maximum', async () => {
    const t0 = Date.now();
    const low = await queued(e, 'true', { at: new Date(t0), name: 'low' });
    const high = await queued(e, 'true', { priority: 5, at: new Date(t0 + 10), name: 'high' });
    const later = await queued(e, 'true', { at: new Date(t0 + 20), name: 'later' });
    const names = async () => queueOrder(await e.history.list(), 'local').map((j) => j.name);
    assert.deepEqual(await names(), ['high', 'low', 'later']);
    const queue = new JobQueue(e.history, e.providers, { dataHome: e.layout.home, capacity: async () => 1 });
    const moved = await queue.moveToTop(later.id);
    assert.equal(localQueueOf(moved!)!.priority, 6);
    assert.deepEqual(await names(), ['later', 'high', 'low']);
    // Already on top: unchanged.
    assert.equal(localQueueOf((await queue.moveToTop(later.id))!)!.priority, 6);
    // The tick starts only the head (capacity 1).
    const started = await queue.tick();
    assert.deepEqual(started.map((j) => j.id), [later.id]);
    assert.equal((await e.history.get(high.id))!.status, 'queued');
    assert.equal((await e.history.get(low.id))!.status, 'queued');
  });

  it('Cancel on a queued job takes it out of the queue and never touches the machine', async () => {
    const calls: string[] = [];
    const spy: TrainingProvider = {
      id: 'local', displayName: 'spy', capabilities: e.local.capabilities,
      validateCredentials: async () => ({ ok: true, message: '' }), listHardware: async () => [],
      submit: async () => { calls.push('submit'); throw new Error('must not start'); },
      status: async () => { calls.push('status'); throw new Error('must not look'); },
      fetchLogs: async () => { calls.push('fetchLogs'); return null; },
      cancel: async () => { calls.push('cancel'); },
      finalize: async () => { calls.push('finalize'); return {}; },
    };
    const providers = new ProviderRegistry();
    providers.register('local', () => spy);
    const job = await queued(e, 'true');
    const monitor = new JobMonitor(e.history, providers, { dataHome: e.layout.home, intervalMs: 30 });
    monitors.push(monitor);
    const after = await cancelJob(job, e.history, providers, monitor, e.layout.home);
    assert.equal(after?.status, 'cancelled');
    assert.match(after!.statusDetail!, /queued/);
    assert.equal(after!.metadata.finalized, true);
    assert.deepEqual(Object.keys(after!.metadata.events as object), ['cancelled']);
    await monitor.tick();
    assert.deepEqual(calls, []);
    assert.equal(existsSync(path.join(e.layout.jobsDir, job.id)), false);
  });

  it('--after: starts only once the predecessor succeeded; a failed predecessor cancels it with the reason', async () => {
    const ok = await e.history.add(newJob(e.layout, { provider: 'local', name: 'ok' }));
    const r1 = await e.local.submit(ok, { command: 'sleep 0.4', cwd: root }, { dataHome: e.layout.home });
    await e.history.update(ok.id, (j) => ({ ...j, status: 'running', providerJobId: r1.providerJobId, metadata: { ...j.metadata, ...r1.metadata } }));
    const bad = await e.history.add(newJob(e.layout, { provider: 'local', name: 'bad' }));
    const r2 = await e.local.submit(bad, { command: 'sleep 0.2; exit 3', cwd: root }, { dataHome: e.layout.home });
    await e.history.update(bad.id, (j) => ({ ...j, status: 'running', providerJobId: r2.providerJobId, metadata: { ...j.metadata, ...r2.metadata } }));
    const chained = await queued(e, 'echo chained', { after: ok.id, name: 'chained' });
    const doomed = await queued(e, 'echo doomed', { after: bad.id, name: 'doomed' });

    // Capacity is plenty: only the predecessors hold them back.
    const { monitor } = monitorWithQueue(10);
    monitor.poke();
    const jobs = await until('all ended', async () => {
      const all = await e.history.list();
      return all.every((j) => isTerminal(j.status)) && all;
    });
    const c = jobs.find((j) => j.id === chained.id)!;
    const d = jobs.find((j) => j.id === doomed.id)!;
    const okDone = jobs.find((j) => j.id === ok.id)!;
    assert.equal(c.status, 'succeeded');
    assert.ok(Date.parse(c.startedAt!) >= Date.parse(okDone.finishedAt!) - 5, 'the chained job started after its predecessor ended');
    assert.equal(d.status, 'cancelled');
    assert.equal(d.statusDetail, `predecessor ${bad.id} failed`);
    assert.equal(d.providerJobId, undefined);
    assert.equal(existsSync(path.join(e.layout.jobsDir, doomed.id)), false, 'the machine was never touched');
  });
});

describe('queue: capacity', function () {
  this.timeout(30_000);
  let root: string;
  beforeEach(async () => { root = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-queue-cap-')); });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });

  it("this machine: its GPU count from (a fake) nvidia-smi, 1 without one, and the setting wins", async () => {
    const bin = path.join(root, 'bin');
    await fs.mkdir(bin);
    await fs.writeFile(path.join(bin, 'nvidia-smi'), '#!/bin/sh\ncase "$*" in *query-gpu=index*) printf "0\\n1\\n2\\n";; *) exit 9;; esac\n', { mode: 0o755 });
    const withGpus = env(root, { PATH: `${bin}:${process.env.PATH}` });
    assert.equal(await capacityResolver(withGpus.providers)('local', 'local', 'local'), 3);
    const none = env(root, { PATH: '/nonexistent' });
    assert.equal(await capacityResolver(none.providers)('local', 'local', 'local'), 1);
    assert.equal(await capacityResolver(withGpus.providers, { configured: (t) => configuredCapacity({ local: { capacity: 2 } }, t) })('local', 'local', 'local'), 2);
    assert.equal(configuredCapacity({ ssh: { hostCapacity: 2, hostCapacities: { gpu1: 4 } } }, 'ssh:gpu1'), 4);
    assert.equal(configuredCapacity({ ssh: { hostCapacity: 2, hostCapacities: { gpu1: 4 } } }, 'ssh:other'), 2);
    assert.equal(configuredCapacity({ ssh: { hostCapacity: 0 } }, 'ssh:other'), undefined);
  });
});

describe('queue: batch submission (one consent, one cost, batch total against the limits)', function () {
  this.timeout(60_000);
  let root: string;
  beforeEach(async () => { root = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-queue-batch-')); });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }); });

  it('asks consent and confirms the cost once for the whole batch; a batch total over a limit starts nothing', async () => {
    const ws = makeWorkspace(root);
    const layout = dataLayout(path.join(root, 'home'));
    const history = new JobHistory(layout.historyDir);
    const cloud = new UploadingTestProvider(layout);
    const providers = new ProviderRegistry();
    providers.register('replicate', () => cloud);
    const second = path.join(ws.workspace, 'config', 'config2.json');
    await fs.copyFile(ws.config, second);
    let asks = 0;
    const confirmed: number[] = [];
    const deps = (daily?: number): SubmitDeps => ({
      history, layout, providers, config: simpleConfigReader, packager: new FilePackager(),
      consent: { policy: 'ask', memory: new ConsentMemory(layout.home), ask: async (s) => { asks++; assert.equal(s.destination.endsWith('(2 jobs)'), true); return 'once'; } },
      limits: SpendingLimitsSchema.parse({ daily }),
      confirmCost: async (est) => { confirmed.push(est.cost.expected); return true; },
    });
    const inputs = [ws.config, second].map((c) => ({ provider: 'replicate' as const, hardware: 'l40s', trainingConfigPath: c, workspace: ws.workspace }));
    const single = (await submitBatch(inputs.slice(0, 1), { ...deps(), consent: { ...deps().consent, ask: async () => 'once' } }))[0]!;
    const one = single.estimate.cost.expected;
    assert.ok(one > 0);
    await history.remove([single.job.id]);
    confirmed.length = 0;
    cloud.submitted.length = 0;

    // A limit one job fits under, the batch does not: refused before anything is created.
    await assert.rejects(submitBatch(inputs, deps(one * 1.5)), (err: unknown) => err instanceof SpendingLimitError);
    assert.equal(asks, 1);
    assert.deepEqual(confirmed, []);
    assert.equal((await history.list()).length, 0);
    assert.equal(cloud.submitted.length, 0);

    asks = 0;
    const outs = await submitBatch(inputs, deps(one * 2.5));
    assert.equal(asks, 1);
    assert.equal(confirmed.length, 1);
    assert.ok(Math.abs(confirmed[0]! - 2 * one) < 1e-9, `the cost view shows the batch total (${confirmed[0]} vs ${2 * one})`);
    assert.equal(outs.length, 2);
    assert.deepEqual(cloud.submitted.map((s) => s.request.trainingConfigPath), [ws.config, second]);
  });

  it('cloudtrain submit --config a --config b (through the CLI entry) queues the batch to one target in order; jobs / cancel pick it up', async () => {
    const ws = makeWorkspace(root);
    const second = path.join(ws.workspace, 'config', 'config2.json');
    const third = path.join(ws.workspace, 'config', 'config3.json');
    await fs.copyFile(ws.config, second);
    await fs.copyFile(ws.config, third);
    const home = path.join(root, 'home');
    const marks = path.join(root, 'marks');
    const io = capturedIo({ env: { PATH: '/usr/bin:/bin' }, cwd: ws.workspace, dataHome: home });
    const code = await main(['submit', '--provider', 'local', '--config', ws.config, '--config', second, '--config', third,
      '--command', `echo start-{config} >> ${marks}; sleep 0.3`, '--priority', '2', '--yes'], io);
    assert.equal(code, 0, io.err());
    const ids = io.out().trim().split('\n');
    assert.equal(ids.length, 3);
    assert.match(io.err(), /queued, position 1/);
    assert.match(io.err(), /queued, position 2/);
    const history = new JobHistory(dataLayout(home).historyDir);
    const [a, b, c] = await Promise.all(ids.map(async (id) => (await history.get(id))!));
    assert.equal(a!.status, 'running');
    assert.ok(isLocallyQueued(b!) && isLocallyQueued(c!));
    assert.equal(localQueueOf(b!)!.priority, 2);

    // Cancel the last one from the CLI: it leaves the queue without starting.
    const cancelIo = capturedIo({ env: { PATH: '/usr/bin:/bin' }, cwd: ws.workspace, dataHome: home });
    assert.equal(await main(['cancel', c!.id], cancelIo), 0, cancelIo.err());
    assert.equal((await history.get(c!.id))!.status, 'cancelled');

    // No window open: `cloudtrain jobs` notices the freed slot and starts the next one.
    const listed = await until('b started by cloudtrain jobs', async () => {
      const jio = capturedIo({ env: { PATH: '/usr/bin:/bin' }, cwd: ws.workspace, dataHome: home });
      assert.equal(await runJobs([], jio), 0, jio.err());
      const now = await history.get(b!.id);
      return now?.providerJobId ? jio.out() : undefined;
    });
    assert.match(listed, new RegExp(b!.id));
    const follow = capturedIo({ env: { PATH: '/usr/bin:/bin' }, cwd: ws.workspace, dataHome: home });
    assert.equal(await main(['logs', b!.id, '--follow'], follow), 0, follow.err());
    assert.deepEqual(await lines(marks), [`start-${ws.config}`, `start-${second}`]);
  });

  it('--after and --priority are refused for providers that queue on their side', async () => {
    const io = capturedIo({ env: { PATH: '/usr/bin:/bin' }, cwd: root, dataHome: path.join(root, 'home') });
    assert.equal(await main(['submit', '--provider', 'slurm', '--hardware', 'h', '--after', 'x', '--yes'], io), 2);
    assert.match(io.err(), /queues jobs on its side/);
  });

  it('a batch that fails part-way keeps the jobs already submitted and says which', async () => {
    const ws = makeWorkspace(root);
    const layout = dataLayout(path.join(root, 'home'));
    const history = new JobHistory(layout.historyDir);
    const providers = new ProviderRegistry();
    providers.register('local', () => new LocalProvider({ jobsDir: layout.jobsDir }));
    const deps: SubmitDeps = {
      history, layout, providers, config: simpleConfigReader,
      consent: { policy: 'ask', memory: new ConsentMemory(layout.home), ask: async () => 'once' },
      limits: SpendingLimitsSchema.parse({}), queue: { capacity: async () => 5 },
    };
    const err = await submitBatch([
      { provider: 'local', command: 'true', cwd: root, workspace: ws.workspace },
      { provider: 'local', command: '  ', cwd: root, workspace: ws.workspace },
    ], deps).catch((e) => e);
    assert.ok(err instanceof SubmitError, String(err));
    assert.equal((err as SubmitError & { submitted: Job[] }).submitted.length, 1);
    assert.equal((await history.list()).length, 1);
  });
});

describe('queue: starts in flight', function () {
  this.timeout(30_000);
  let root: string;
  let e: Env;
  beforeEach(async () => { root = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-queue-flight-')); e = env(root); });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });

  function gatedProvider(calls: string[], gate: Promise<void>): ProviderRegistry {
    const p: TrainingProvider = {
      id: 'local', displayName: 'gated', capabilities: e.local.capabilities,
      validateCredentials: async () => ({ ok: true, message: '' }), listHardware: async () => [],
      submit: async (job) => { calls.push(`submit ${job.id}`); await gate; return { providerJobId: 'p1', status: 'running', metadata: { started: true } }; },
      status: async () => ({ status: 'running' }), fetchLogs: async () => null,
      cancel: async (job) => { calls.push(`cancel ${job.id}`); },
    };
    const r = new ProviderRegistry();
    r.register('local', () => p);
    return r;
  }

  it('Cancel while another process is starting the job: the start is recorded, then stopped at once', async () => {
    const calls: string[] = [];
    let open!: () => void;
    const providers = gatedProvider(calls, new Promise<void>((r) => { open = r; }));
    const job = await queued(e, 'true');
    const queue = new JobQueue(e.history, providers, { dataHome: e.layout.home, capacity: async () => 1 });
    const ticking = queue.tick();
    await until('the start claimed', async () => (await e.history.get(job.id))?.metadata.queueStart !== undefined);
    await until('submit called', async () => calls.length > 0);
    // Cancel from another window/CLI while the start is under way: it cannot just mark it cancelled.
    const during = await cancelJob((await e.history.get(job.id))!, e.history, providers, new JobMonitor(e.history, providers, { dataHome: e.layout.home }), e.layout.home);
    assert.equal(during?.status, 'queued');
    assert.ok(during?.cancelRequestedAt);
    open();
    await ticking;
    assert.deepEqual(calls, [`submit ${job.id}`, `cancel ${job.id}`]);
    const after = (await e.history.get(job.id))!;
    assert.equal(after.providerJobId, 'p1');
    assert.equal(after.metadata.queueStart, undefined);
  });

  it('a start claim that lapsed (its process died) is never started again: the job fails and says why', async () => {
    const calls: string[] = [];
    const providers = gatedProvider(calls, Promise.resolve());
    const job = await queued(e, 'true');
    await e.history.update(job.id, (j) => ({ ...j, metadata: { ...j.metadata, queueStart: { by: 'gone-host:1:dead', at: new Date(Date.now() - 10_000).toISOString() } } }));
    const queue = new JobQueue(e.history, providers, { dataHome: e.layout.home, capacity: async () => 1, leaseMs: 1000 });
    assert.deepEqual(await queue.tick(), []);
    const after = (await e.history.get(job.id))!;
    assert.equal(after.status, 'failed');
    assert.match(after.error!, /stopped before it recorded the start.*check there, then resubmit/);
    assert.deepEqual(calls, []);
  });
});
