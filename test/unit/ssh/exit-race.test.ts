import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { JobSchema, type Job } from '../../../src/core/jobs/schema';
import { SshProvider } from '../../../src/providers/ssh/provider';
import { launchRun, parseRunState, readRunState, runStateCommand, type RunState } from '../../../src/providers/ssh/remote-job';
import { posix } from '../../../src/providers/ssh/remote-shell';
import type { HostSources } from '../../../src/providers/ssh/hosts';
import { startSshd, type SshdFixture } from '../../support/sshd';

/**
 * The SSH provider's remote state read, through a real sshd, with a run ending at an exact point of
 * it: the read's `between` hook (run on the host between the liveness check and the exit-file read)
 * and the provider's `readRunState` seam (between its two looks). No sleep decides the order.
 */

/** Shell for the hook: open the run's gate, then wait (bounded) until exit_code exists and the group is gone. */
const END_RUN = 'echo "${alive:-dead}" > seen; : > gate; i=0; '
  + 'while { [ ! -s exit_code ] || kill -0 -"$p" 2>/dev/null; } && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done';

describe('ssh run state: a run ending while it is read (real sshd)', function () {
  this.timeout(60_000);
  let sshd: SshdFixture;
  let provider: SshProvider;
  const leaders: number[] = [];

  before(async () => {
    sshd = await startSshd();
    provider = new SshProvider({ cacheDir: path.join(sshd.dir, 'cache'), hostSources });
  });
  after(async () => {
    for (const pgid of leaders) {
      try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
    }
    await provider?.dispose();
    await sshd?.stop();
  });
  const hostSources = (): HostSources => ({
    settingsHosts: [{ name: 'box', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath }],
    configFile: path.join(sshd.dir, 'no-ssh-config'), home: sshd.dir, knownHostsFiles: [sshd.knownHostsPath], agent: false,
  });
  let n = 0;
  const runDirFor = (name: string) => path.join(sshd.remoteDir, `${name}-${++n}`);

  /** A real detached run (the provider's wrapper) whose command waits for a `gate` file in its run folder. */
  async function gatedRun(tmux: boolean): Promise<{ runDir: string; pgid: number }> {
    const runDir = runDirFor(tmux ? 'tmux' : 'setsid');
    const conn = await provider.connection('box');
    const r = await launchRun(conn, { runDir, cwd: sshd.remoteDir, command: `while [ ! -e ${runDir}/gate ]; do sleep 0.01; done; echo done`, env: {}, tmux, sessionName: `race-${n}` });
    leaders.push(r.pgid);
    assert.equal(!!r.tmuxSession, tmux, 'tmux is installed on the test host');
    return { runDir, pgid: r.pgid };
  }

  const readWith = async (runDir: string, between: string): Promise<RunState> =>
    parseRunState(await (await provider.connection('box')).run(posix(runStateCommand(runDir, between))));

  for (const tmux of [false, true]) {
    it(`reads a run that ends right after its liveness check as exited 0 (${tmux ? 'tmux' : 'setsid'})`, async () => {
      const { runDir } = await gatedRun(tmux);
      const conn = await provider.connection('box');
      assert.equal((await readRunState(conn, runDir)).state, 'running');
      const s = await readWith(runDir, END_RUN);
      assert.equal((await fs.readFile(path.join(runDir, 'seen'), 'utf8')).trim(), '1', 'the liveness check saw it alive');
      assert.deepEqual([s.state, s.state === 'exited' && s.code], ['exited', 0]);
    });
  }

  it('reads a dead pid plus an exit file written between the two checks as exited, and without one as vanished', async () => {
    const runDir = runDirFor('dead');
    await fs.mkdir(runDir, { recursive: true });
    await fs.writeFile(path.join(runDir, 'pid'), `${await deadPid()}\n`);
    const written = await readWith(runDir, 'echo "${alive:-dead}" > seen; echo 0 > exit_code.tmp && mv exit_code.tmp exit_code');
    assert.equal((await fs.readFile(path.join(runDir, 'seen'), 'utf8')).trim(), 'dead');
    assert.equal(written.state, 'exited');
    await fs.rm(path.join(runDir, 'exit_code'));
    assert.equal((await readWith(runDir, '')).state, 'vanished');
  });

  it('does not take a live process group that is not the run\'s wrapper (a reused pid) for the run', async () => {
    const runDir = runDirFor('reused');
    await fs.mkdir(runDir, { recursive: true });
    const other = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' }); // its own group, leader = pid
    leaders.push(other.pid!);
    try {
      await fs.writeFile(path.join(runDir, 'pid'), `${other.pid}\n`);
      assert.equal((await readWith(runDir, '')).state, 'vanished');
    } finally {
      other.kill('SIGKILL');
    }
  });

  describe('provider status: "vanished" is final only when a second look agrees', () => {
    async function deadRun(): Promise<Job> {
      const runDir = runDirFor('look');
      await fs.mkdir(runDir, { recursive: true });
      const pid = await deadPid();
      await fs.writeFile(path.join(runDir, 'pid'), `${pid}\n`);
      return JobSchema.parse({
        id: path.basename(runDir), name: 'x', provider: 'ssh', status: 'running', providerJobId: `box:${pid}`,
        createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
        metadata: { host: 'box', workspaceDir: sshd.remoteDir, jobRoot: runDir, runDir, remoteOutputDir: runDir, pgid: pid, template: 'custom', command: 'true' },
      });
    }

    it('an exit file that appears between the looks makes it succeeded', async () => {
      const looks: string[] = [];
      const p = new SshProvider({
        cacheDir: path.join(sshd.dir, 'cache'), hostSources, goneGraceMs: 0,
        readRunState: async (conn, runDir, signal) => {
          const s = await readRunState(conn, runDir, signal);
          looks.push(s.state);
          // The wrapper's rename, landing after the first look.
          if (looks.length === 1) await fs.writeFile(path.join(runDir, 'exit_code'), '0\n');
          return s;
        },
      });
      try {
        const s = await p.status(await deadRun(), { dataHome: sshd.dir });
        assert.deepEqual(looks, ['vanished', 'exited']);
        assert.equal(s.status, 'succeeded');
      } finally {
        await p.dispose();
      }
    });

    it('a run gone at both looks is failed (cancelled after a cancel)', async () => {
      const looks: string[] = [];
      const p = new SshProvider({
        cacheDir: path.join(sshd.dir, 'cache'), hostSources, goneGraceMs: 10,
        readRunState: async (conn, runDir, signal) => { const s = await readRunState(conn, runDir, signal); looks.push(s.state); return s; },
      });
      try {
        const job = await deadRun();
        const s = await p.status(job, { dataHome: sshd.dir });
        assert.deepEqual(looks, ['vanished', 'vanished']);
        assert.equal(s.status, 'failed');
        assert.match(s.error!, /without an exit code/);
        assert.equal((await p.status({ ...job, cancelRequestedAt: new Date().toISOString() }, { dataHome: sshd.dir })).status, 'cancelled');
      } finally {
        await p.dispose();
      }
    });
  });
});

async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}
