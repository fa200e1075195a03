import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { cancelJob } from '../../../src/core/jobs/cancel';
import { newJob } from '../../../src/core/jobs/factory';
import type { Job } from '../../../src/core/jobs/schema';
import { dataLayout } from '../../../src/core/paths';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import { LocalProvider } from '../../../src/providers/local/provider';
import { tempDir } from '../../support/tmp';
import { readMetrics } from '../../../src/core/logs/metrics';

const EXAMPLE = path.resolve(__dirname, '../../../examples/simpletuner-demo');

async function waitFor(h: JobHistory, id: string, pred: (j: Job) => boolean, monitor: JobMonitor, ms = 30_000): Promise<Job> {
  const deadline = Date.now() + ms;
  for (;;) {
    const j = (await h.get(id))!;
    if (pred(j)) return j;
    if (Date.now() > deadline) throw new Error(`timed out; job is ${JSON.stringify({ status: j.status, progress: j.progress, error: j.error })}`);
    await monitor.refresh(j);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function setup(dir: string) {
  const layout = dataLayout(dir);
  const history = new JobHistory(layout.historyDir);
  const providers = new ProviderRegistry();
  providers.register('local', () => new LocalProvider({ jobsDir: layout.jobsDir, killGraceMs: 2000 }));
  const monitor = new JobMonitor(history, providers, { dataHome: dir, intervalMs: 100 });
  return { layout, history, providers, monitor };
}

async function submit(s: ReturnType<typeof setup>, command: string, cwd?: string, trainingConfig?: string): Promise<Job> {
  const job = await s.history.add(newJob(s.layout, { provider: 'local', trainingConfig }));
  const r = await s.providers.get('local').submit(job, { command, cwd, trainingConfigPath: trainingConfig }, { dataHome: s.layout.home });
  return (await s.history.update(job.id, (j) => ({ ...j, providerJobId: r.providerJobId, status: r.status, metadata: { ...j.metadata, ...r.metadata }, startedAt: r.startedAt })))!;
}

describe('local provider', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => { t = tempDir(); });
  afterEach(() => t.cleanup());

  it('runs the demo trainer to success with progress, log and outputs', async function () {
    this.timeout(60_000);
    const s = setup(t.dir);
    const cfg = path.join(EXAMPLE, 'config/config.json');
    const job = await submit(s, 'DEMO_STEP_SECONDS=0.005 python3 train_demo.py --config {config} --output_dir {output_dir}', EXAMPLE, cfg);
    const done = await waitFor(s.history, job.id, (j) => j.status === 'succeeded' && j.metadata.finalized === true, s.monitor);
    assert.equal(done.progress.percent, 100);
    assert.equal(done.progress.step, 120);
    assert.equal(done.progress.totalSteps, 120);
    assert.ok(done.progress.loss! < 0.05, `loss went down (${done.progress.loss})`);
    const curve = await readMetrics(done.logPath!);
    assert.ok(curve.length > 50, `loss curve recorded (${curve.length} points)`);
    assert.ok(curve[0]!.loss! > curve.at(-1)!.loss!, 'and it goes down');
    const out = done.outputs.find((o) => o.kind === 'directory')!;
    const weights = JSON.parse(await fs.readFile(path.join(out.uri, 'pytorch_lora_weights.json'), 'utf8'));
    assert.equal(weights.steps, 120);
    const log = await fs.readFile(done.logPath!, 'utf8');
    assert.match(log, /Training complete/);
    s.monitor.dispose();
  });

  it('reports a failing command as failed with its exit code', async function () {
    this.timeout(20_000);
    const s = setup(t.dir);
    const job = await submit(s, 'echo boom; exit 3', t.dir);
    const done = await waitFor(s.history, job.id, (j) => j.status !== 'running', s.monitor);
    assert.equal(done.status, 'failed');
    assert.match(done.error!, /code 3/);
  });

  it('keeps running when the submitting side goes away, and a new provider instance finds it again', async function () {
    this.timeout(20_000);
    const s = setup(t.dir);
    const job = await submit(s, 'sleep 1; echo done', t.dir);
    // A "window reload": fresh history, registry and monitor built from the files alone.
    const s2 = setup(t.dir);
    assert.equal((await s2.providers.get('local').status((await s2.history.get(job.id))!, { dataHome: t.dir })).status, 'running');
    const done = await waitFor(s2.history, job.id, (j) => j.status === 'succeeded', s2.monitor);
    assert.match(await fs.readFile(done.logPath!, 'utf8'), /done/);
  });

  it('cancel kills the whole process group', async function () {
    this.timeout(20_000);
    const s = setup(t.dir);
    const marker = `ct-test-${Date.now()}`;
    // A shell that starts grandchildren, as real training launchers (accelerate, torchrun) do.
    const job = await submit(s, `sh -c 'sleep 300 # ${marker}' & sh -c 'sleep 301 # ${marker}' & wait`, t.dir);
    const count = () => { try { return execFileSync('pgrep', ['-f', marker]).toString().trim().split('\n').length; } catch { return 0; } };
    // Wait for the shell to start both (a fixed 300 ms was not always enough under load).
    for (const until = Date.now() + 10_000; count() < 2 && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
    assert.ok(count() >= 2, 'grandchildren are running');
    const after = await cancelJob(job, s.history, s.providers, s.monitor, t.dir);
    assert.equal(after?.status, 'cancelled');
    assert.ok(after?.cancelRequestedAt);
    assert.equal(count(), 0, 'no process of the job is left');
  });
});
