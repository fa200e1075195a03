import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobSchema, type Job } from '../../../src/core/jobs/schema';
import { applyStatus } from '../../../src/core/jobs/monitor';
import type { CommandResult, CommandRunner } from '../../../src/providers/slurm/runner';
import { SlurmProvider } from '../../../src/providers/slurm/provider';
import { SlurmResourcesSchema } from '../../../src/providers/slurm/resources';
import { exitRecordPath, generateSbatchScript } from '../../../src/providers/slurm/script';
import type { StatusUpdate } from '../../../src/core/providers/types';

/**
 * The end of a Slurm job as the login node reports it, poll by poll, from recorded squeue / sacct /
 * scontrol outputs (Slurm 22.05/23.02 wording): a job that leaves the queue before the database or
 * the controller has its final state must never be read as failed.
 */

const ID = '123';
const JOB_DIR = '/shared/cloud-training/jobs/j1';

const SQUEUE = {
  running: `${ID}|RUNNING|1795434161|1795437761|0:10|1|node1|None\n`,
  completing: `${ID}|COMPLETING|1795434161|1795434231|1:10|1|node1|None\n`,
  completed: `${ID}|COMPLETED|1795434161|1795434231|1:10|1|node1|None\n`,
};
const INVALID = 'slurm_load_jobs error: Invalid job id specified\n';
const SACCT = {
  disabled: { out: 'Slurm accounting storage is disabled\n', code: 1 },
  lagging: { out: `${ID}|RUNNING|0:0|1795434161|Unknown|70|1|node1|None\n`, code: 0 },
  completed: { out: `${ID}|COMPLETED|0:0|1795434161|1795434231|70|1|node1|None\n`, code: 0 },
  none: { out: '', code: 0 },
  down: {
    out: 'sacct: error: slurm_persist_conn_open_without_init: failed to open persistent connection to host:localhost:6819: Connection refused\n'
      + 'sacct: error: Sending PersistInit msg: Connection refused\nsacct: error: Problem talking to the database: Connection refused\n',
    code: 1,
  },
};
const SCONTROL_COMPLETED = `JobId=${ID} JobName=t UserId=me(1000) JobState=COMPLETED Reason=None Dependency=(null) ExitCode=0:0 RunTime=00:01:10 `
  + 'StartTime=1795434161 EndTime=1795434231 NodeList=node1 NumNodes=1\n';

/** What the login node answers at one poll. */
interface Poll {
  squeue: string | 'invalid';
  sacct?: { out: string; code: number };
  scontrol?: string;
  /** Content of the job script's exit record, if it wrote one. */
  exitRecord?: string;
}

/** A runner that plays back one Poll per status() call, answering the commands observeJob sends. */
function recorded(polls: Poll[]): { runner: CommandRunner; commands: string[] } {
  const commands: string[] = [];
  let i = -1;
  const runner: CommandRunner = {
    async exec(command): Promise<CommandResult> {
      commands.push(command);
      if (/squeue /.test(command)) {
        const p = polls[++i];
        if (!p) throw new Error('more polls than recorded');
        return p.squeue === 'invalid' ? { stdout: '', stderr: INVALID, code: 1 } : { stdout: p.squeue, stderr: '', code: 0 };
      }
      const p = polls[i]!;
      // Played back through the real shell glue: the marks and the exit-status echo come from the command itself.
      const acct = p.sacct ?? SACCT.disabled;
      const mark = /echo "(@@[\w-]+@@)\$\?"/.exec(command)![1];
      const exitMark = /echo (@@cloud-training-exit@@)/.exec(command)?.[1];
      assert.ok(exitMark, 'the exit record is read along with sacct and scontrol');
      assert.match(command, new RegExp(`cat ${JOB_DIR}/exit_code\\.${ID}`));
      const stdout = `${acct.out}${mark}${acct.code}\n${p.scontrol ?? INVALID}${exitMark}\n${p.exitRecord ?? ''}`;
      return { stdout, stderr: '', code: 0 };
    },
  };
  return { runner, commands };
}

function provider(runner: CommandRunner, unknownGraceMs?: number): SlurmProvider {
  return new SlurmProvider({ cluster: { host: 'hpc', sharedDir: '/shared', pricePerGpuHour: 0 }, connect: async () => runner, unknownGraceMs });
}

function runningJob(): Job {
  const now = new Date().toISOString();
  return JobSchema.parse({
    id: 'j1', name: 't', provider: 'slurm', status: 'running', providerJobId: ID, createdAt: now, updatedAt: now,
    metadata: { clusterHost: 'hpc', jobDir: JOB_DIR, scriptPath: `${JOB_DIR}/job.sbatch`, outputPath: `${JOB_DIR}/slurm-${ID}.out`, nodes: 1, gpusPerNode: 0, pricePerGpuHour: 0 },
  });
}

/** Poll as the monitor does: each update applied to the job before the next poll. */
async function pollAll(p: SlurmProvider, job: Job, n: number, between?: (k: number, j: Job) => Job): Promise<{ updates: StatusUpdate[]; job: Job }> {
  const updates: StatusUpdate[] = [];
  for (let k = 0; k < n; k++) {
    if (between) job = between(k, job);
    const u = await p.status(job, { dataHome: '/nowhere' });
    updates.push(u);
    job = applyStatus(job, u);
  }
  return { updates, job };
}

describe('slurm: a job leaving the queue before its final state is known', () => {
  it('gone from squeue while the database still says RUNNING: running, then succeeded', async () => {
    const { runner } = recorded([
      { squeue: SQUEUE.running },
      { squeue: 'invalid', sacct: SACCT.lagging },
      { squeue: 'invalid', sacct: SACCT.completed },
    ]);
    const { updates } = await pollAll(provider(runner), runningJob(), 3);
    assert.deepEqual(updates.map((u) => u.status), ['running', 'running', 'succeeded']);
  });

  it('COMPLETING is still running; COMPLETED from scontrol on a cluster without accounting is succeeded', async () => {
    const { runner } = recorded([
      { squeue: SQUEUE.completing },
      { squeue: SQUEUE.completed, sacct: SACCT.disabled, scontrol: SCONTROL_COMPLETED },
    ]);
    const { updates } = await pollAll(provider(runner), runningJob(), 2);
    assert.deepEqual(updates.map((u) => u.status), ['running', 'succeeded']);
    assert.match(updates[0]!.statusDetail!, /Completing/);
  });

  it('squeue\'s COMPLETED stands when scontrol purges the job between the two commands (no accounting)', async () => {
    const { runner } = recorded([{ squeue: SQUEUE.completed, sacct: SACCT.disabled, scontrol: INVALID }]);
    assert.equal((await provider(runner).status(runningJob(), { dataHome: '/nowhere' })).status, 'succeeded');
  });

  it('no accounting and purged from the controller: the job script\'s exit record decides (0 → succeeded, 2 → failed)', async () => {
    for (const [record, status] of [['0\n', 'succeeded'], ['2\n', 'failed']] as const) {
      const { runner } = recorded([{ squeue: SQUEUE.running }, { squeue: 'invalid', sacct: SACCT.disabled, scontrol: INVALID, exitRecord: record }]);
      const { updates } = await pollAll(provider(runner), runningJob(), 2);
      assert.deepEqual(updates.map((u) => u.status), ['running', status]);
      if (status === 'failed') assert.match(updates[1]!.error!, /code 2/);
    }
  });

  it('known to nothing: stays active across looks within the grace, lost only once it stayed unknown past it', async () => {
    const unknown: Poll = { squeue: 'invalid', sacct: SACCT.none, scontrol: INVALID };
    const { runner } = recorded([unknown, unknown, unknown, unknown]);
    const p = provider(runner, 60_000);
    const { updates, job } = await pollAll(p, runningJob(), 2);
    assert.deepEqual(updates.map((u) => u.status), ['running', 'running']);
    assert.match(updates[0]!.statusDetail!, /waiting for its final state/);
    const since = job.metadata.slurmUnknownSince as string;
    assert.ok(since, 'the first unknown look is remembered on the job');
    assert.equal(updates[1]!.metadata, undefined, 'a later look keeps the first time');
    // The grace has passed since the first unknown look (moved back rather than waited for).
    const old = { ...job, metadata: { ...job.metadata, slurmUnknownSince: new Date(Date.parse(since) - 61_000).toISOString() } };
    const last = await p.status(old, { dataHome: '/nowhere' });
    assert.equal(last.status, 'failed');
    assert.match(last.statusDetail!, /no longer knows/);
    // A cancel asked for ends it as cancelled at once.
    assert.equal((await p.status({ ...job, cancelRequestedAt: new Date().toISOString() }, { dataHome: '/nowhere' })).status, 'cancelled');
  });

  it('a job that reappears (controller back) forgets its unknown time', async () => {
    const { runner } = recorded([{ squeue: 'invalid', sacct: SACCT.none, scontrol: INVALID }, { squeue: SQUEUE.running }]);
    const { updates, job } = await pollAll(provider(runner), runningJob(), 2);
    assert.deepEqual(updates.map((u) => u.status), ['running', 'running']);
    assert.equal(JSON.parse(JSON.stringify(job.metadata)).slurmUnknownSince, undefined);
  });

  it('a database that does not answer is an error to retry, never "unknown"', async () => {
    const { runner } = recorded([{ squeue: 'invalid', sacct: SACCT.down, scontrol: INVALID }]);
    await assert.rejects(provider(runner).status(runningJob(), { dataHome: '/nowhere' }), /sacct failed .*Problem talking to the database/s);
  });
});

describe('slurm job script: its own exit record', () => {
  /** Run the generated script under bash as the batch host would, with stand-ins for srun and scontrol. */
  async function runScript(program: string, opts: { term?: boolean } = {}): Promise<{ code: number | null; record: string | undefined }> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-exit-record-'));
    try {
      const jobDir = path.join(dir, 'job dir');
      await fs.mkdir(jobDir);
      const bin = path.join(dir, 'bin');
      await fs.mkdir(bin);
      // srun runs the task command itself; scontrol names one host.
      await fs.writeFile(path.join(bin, 'srun'), '#!/bin/sh\nshift 2\nexec "$@"\n', { mode: 0o755 });
      await fs.writeFile(path.join(bin, 'scontrol'), '#!/bin/sh\necho node1\n', { mode: 0o755 });
      const script = generateSbatchScript({
        resources: SlurmResourcesSchema.parse({ gpusPerNode: 0 }), jobDir, workDir: dir, launcher: 'srun', program,
      });
      await fs.writeFile(path.join(jobDir, 'job.sbatch'), script);
      const child = spawn('bash', [path.join(jobDir, 'job.sbatch')], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, SLURM_JOB_ID: '77', SLURM_JOB_NODELIST: 'node1', SLURM_CPUS_PER_TASK: '1' },
        stdio: ['ignore', 'pipe', 'inherit'],
        detached: true, // its own process group, signalled as a whole as Slurm does
      });
      if (opts.term) {
        // Slurm's scancel / time limit: TERM once the program runs.
        await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => { if (d.includes('started')) resolve(); }));
        process.kill(-child.pid!, 'SIGTERM');
      } else {
        child.stdout!.resume();
      }
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* the group is gone */ }
      const record = await fs.readFile(exitRecordPath(jobDir, '77'), 'utf8').catch(() => undefined);
      assert.deepEqual(await fs.readdir(jobDir).then((f) => f.filter((n) => n.endsWith('.tmp'))), [], 'no temp file left');
      return { code, record };
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  it('records 0 only after the launch succeeded, a failing command\'s code, and nothing when killed by a signal', async function () {
    this.timeout(20_000);
    assert.deepEqual(await runScript('echo fine'), { code: 0, record: '0\n' });
    assert.deepEqual(await runScript('echo oops; exit 3'), { code: 3, record: '3\n' });
    const killed = await runScript('echo started; sleep 30', { term: true });
    assert.equal(killed.record, undefined, 'a TERM never passes for a success');
  });
});
