import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { newJob } from '../../../src/core/jobs/factory';
import type { Job } from '../../../src/core/jobs/schema';
import { dataLayout } from '../../../src/core/paths';
import { LocalProvider, LocalJobMetadataSchema } from '../../../src/providers/local/provider';
import { isOurProcessAlive, localRunProbe } from '../../../src/providers/local/process-files';
import type { RunProbe } from '../../../src/providers/run-observation';
import { tempDir } from '../../support/tmp';

/**
 * A job that finishes while its state is being read must never be recorded as failed. These tests
 * put a real wrapper's end (exit file written, process gone) between any two of the provider's reads,
 * through the provider's `probe` seam, instead of hoping a sleep lands there.
 */

type Meta = ReturnType<typeof LocalJobMetadataSchema.parse>;

/** A probe that runs `before(n)` ahead of its n-th read (0-based, alive and exitCode counted alike). */
function hooked(real: RunProbe, before: (n: number) => Promise<void>, calls: string[]): RunProbe {
  const step = async <T>(name: string, read: () => Promise<T>): Promise<T> => {
    await before(calls.length);
    calls.push(name);
    return read();
  };
  return { alive: () => step('alive', () => real.alive()), exitCode: () => step('exitCode', () => real.exitCode()) };
}

async function until(what: string, pred: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('local provider: a job finishing while it is observed', function () {
  this.timeout(30_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => { t = tempDir(); });
  afterEach(() => t.cleanup());

  /** Submit a job whose command waits for a `go` file, so the test decides the moment it ends. */
  async function gatedJob(provider: LocalProvider): Promise<{ job: Job; meta: Meta; finish: () => Promise<void> }> {
    const layout = dataLayout(t.dir);
    const base = newJob(layout, { provider: 'local' });
    const gate = path.join(t.dir, `go-${base.id}`);
    const r = await provider.submit(base, { command: `while [ ! -e ${gate} ]; do sleep 0.01; done; echo done`, cwd: t.dir }, { dataHome: t.dir });
    const meta = LocalJobMetadataSchema.parse(r.metadata);
    const job: Job = { ...base, status: 'running', providerJobId: r.providerJobId, metadata: r.metadata ?? {} };
    // The wrapper's real end: exit_code renamed into place, then the process exits.
    const finish = async () => {
      await fs.writeFile(gate, '');
      await until('the wrapper to write exit_code and exit', async () =>
        !(await isOurProcessAlive(meta.pid, meta.runScript)) && (await fs.stat(path.join(meta.jobDir, 'exit_code')).then(() => true, () => false)));
    };
    return { job, meta, finish };
  }

  for (const k of [0, 1, 2, 3]) {
    it(`is succeeded when the wrapper ends before read #${k} (never "killed")`, async () => {
      const calls: string[] = [];
      let finished = false;
      let finish: () => Promise<void> = async () => undefined;
      const provider = new LocalProvider({
        jobsDir: path.join(t.dir, 'jobs'),
        goneGraceMs: 0,
        probe: (run) => hooked(localRunProbe(run), async (n) => {
          if (n === k && !finished) { finished = true; await finish(); }
        }, calls),
      });
      const g = await gatedJob(provider);
      finish = g.finish;
      const first = await provider.status(g.job);
      if (finished) {
        assert.equal(first.status, 'succeeded', `reads ${calls.join(' → ')} with the end before #${k}: ${JSON.stringify(first)}`);
      } else {
        // It ended after the provider's last read: it was running then, and is succeeded at the next look.
        assert.equal(first.status, 'running', `reads ${calls.join(' → ')}`);
        await g.finish();
        finished = true;
        assert.equal((await provider.status(g.job)).status, 'succeeded');
      }
      assert.ok(k >= 2 || finished, 'the end fell between reads of the first look');
    });
  }

  it('reads liveness before the exit file, so "no exit file, then gone" cannot happen for a finishing run', async () => {
    // The exact interleaving of the CI failure: the first read finds no exit file, the wrapper then
    // writes it and exits, the next read sees the process gone. The provider must not take that path.
    const calls: string[] = [];
    let finish: () => Promise<void> = async () => undefined;
    let fired = false;
    const provider = new LocalProvider({
      jobsDir: path.join(t.dir, 'jobs'),
      goneGraceMs: 0,
      probe: (run) => {
        const real = localRunProbe(run);
        return hooked(real, async (n) => {
          if (n === 1) { fired = true; await finish(); }
        }, calls);
      },
    });
    const g = await gatedJob(provider);
    finish = g.finish;
    const s = await provider.status(g.job);
    assert.ok(fired);
    assert.deepEqual(calls.slice(0, 2), ['alive', 'exitCode']);
    assert.equal(s.status, 'succeeded');
    assert.equal(s.providerStatus, 'exited 0');
    assert.ok(s.finishedAt);
  });

  it('takes a second look before "gone without an exit code" is final: an exit file that shows up in the grace wins', async () => {
    const dead = await deadPid();
    const jobDir = path.join(t.dir, 'jobs', 'late');
    await fs.mkdir(jobDir, { recursive: true });
    const meta: Meta = { jobDir, pid: dead, runScript: path.join(jobDir, 'run.sh'), outputDir: path.join(jobDir, 'output'), command: 'true' };
    const calls: string[] = [];
    const provider = new LocalProvider({
      jobsDir: path.join(t.dir, 'jobs'),
      goneGraceMs: 20,
      probe: (run) => hooked(localRunProbe(run), async (n) => {
        // After the first look found nothing: the exit file appears (atomically, as the wrapper writes it).
        if (n === 2) {
          await fs.writeFile(path.join(jobDir, 'exit_code.tmp'), '0\n');
          await fs.rename(path.join(jobDir, 'exit_code.tmp'), path.join(jobDir, 'exit_code'));
        }
      }, calls),
    });
    const job = { ...newJob(dataLayout(t.dir), { provider: 'local' }), status: 'running' as const, providerJobId: String(dead), metadata: meta };
    const s = await provider.status(job);
    assert.deepEqual(calls, ['alive', 'exitCode', 'alive', 'exitCode']);
    assert.equal(s.status, 'succeeded');
  });

  it('still reports a run killed without an exit code as failed (after the second look), and cancelled after a cancel', async () => {
    const dead = await deadPid();
    const jobDir = path.join(t.dir, 'jobs', 'killed');
    await fs.mkdir(jobDir, { recursive: true });
    const meta: Meta = { jobDir, pid: dead, runScript: path.join(jobDir, 'run.sh'), outputDir: path.join(jobDir, 'output'), command: 'true' };
    const calls: string[] = [];
    const provider = new LocalProvider({ jobsDir: path.join(t.dir, 'jobs'), goneGraceMs: 0, probe: (run) => hooked(localRunProbe(run), async () => undefined, calls) });
    const job = { ...newJob(dataLayout(t.dir), { provider: 'local' }), status: 'running' as const, providerJobId: String(dead), metadata: meta };
    const s = await provider.status(job);
    assert.equal(s.status, 'failed');
    assert.match(s.error!, /without an exit code/);
    assert.equal(calls.length, 4, 'two full looks');
    assert.equal((await provider.status({ ...job, cancelRequestedAt: new Date().toISOString() })).status, 'cancelled');
  });

  it('does not take a reused pid (a live process that is not the wrapper) for the run', async () => {
    const jobDir = path.join(t.dir, 'jobs', 'reused');
    await fs.mkdir(jobDir, { recursive: true });
    // This test process is alive, but its cmdline is not the job's run.sh.
    const meta: Meta = { jobDir, pid: process.pid, runScript: path.join(jobDir, 'run.sh'), outputDir: path.join(jobDir, 'output'), command: 'true' };
    const provider = new LocalProvider({ jobsDir: path.join(t.dir, 'jobs'), goneGraceMs: 0 });
    const job = { ...newJob(dataLayout(t.dir), { provider: 'local' }), status: 'running' as const, providerJobId: String(process.pid), metadata: meta };
    assert.equal((await provider.status(job)).status, 'failed');
  });
});

describe('local provider under load: many short jobs', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  const burners: ChildProcess[] = [];
  beforeEach(() => { t = tempDir(); });
  afterEach(() => {
    for (const b of burners.splice(0)) b.kill('SIGKILL');
    t.cleanup();
  });

  it('finds every one of 36 concurrent short jobs succeeded while CPU-bound processes run beside them', async () => {
    // Two busy loops (bounded by themselves too, in case this process dies before afterEach).
    for (let i = 0; i < 2; i++) {
      burners.push(spawn(process.execPath, ['-e', 'const end = Date.now() + 40000; while (Date.now() < end) {}'], { stdio: 'ignore' }));
    }
    const provider = new LocalProvider({ jobsDir: path.join(t.dir, 'jobs') });
    const layout = dataLayout(t.dir);
    const N = 36;
    // Every fourth job waits (at most ~30 s) for this file, made once every job has been looked at: they are
    // surely running when first polled, however long the submits took on a loaded machine, and then all
    // end together while the others are still polled.
    const go = path.join(t.dir, 'go');
    const gated = (i: number) => i % 4 === 1;
    const jobs = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const base = newJob(layout, { provider: 'local' });
      // Exits spread over ~0–250 ms, so polls keep landing around the moments they end.
      const command = gated(i) ? `for n in $(seq 1500); do [ -e '${go}' ] && break; sleep 0.02; done; echo ok`
        : i % 3 === 0 ? 'exit 0' : `sleep 0.${(i % 5) * 5}; echo ok`;
      const r = await provider.submit(base, { command, cwd: t.dir }, { dataHome: t.dir });
      return { ...base, status: 'running' as const, providerJobId: r.providerJobId, metadata: r.metadata ?? {} } as Job;
    }));
    const deadline = Date.now() + 30_000;
    let firstLooks = 0;
    const results = await Promise.all(jobs.map(async (job) => {
      let polls = 0;
      for (;;) {
        const s = await provider.status(job);
        polls++;
        if (polls === 1 && ++firstLooks === N) await fs.writeFile(go, '');
        if (s.status !== 'running') return { id: job.id, status: s.status, error: s.error, polls };
        if (Date.now() > deadline) return { id: job.id, status: 'timed out', error: undefined, polls };
        await new Promise((r) => setTimeout(r, 2));
      }
    }));
    const bad = results.filter((r) => r.status !== 'succeeded');
    assert.deepEqual(bad, [], `${bad.length} of ${N} jobs not succeeded`);
    const waited = results.filter((_, i) => gated(i));
    assert.equal(waited.length, 9);
    for (const r of waited) assert.ok(r.polls >= 2, `job ${r.id} was seen running before it succeeded (${r.polls} polls)`);
  });
});

/** A pid that no longer exists (a child that has exited and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}
