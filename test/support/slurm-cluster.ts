/**
 * A real one-node Slurm cluster for tests: Debian's slurm-wlm (`slurmctld` + `slurmd`) and `munged`
 * on 127.0.0.1, each with its own generated config, key, sockets, state and spool folders in a temp dir.
 *
 *   const cluster = await startSlurmCluster();
 *   ... run sbatch/squeue with cluster.env (SLURM_CONF) — e.g. through the test sshd's `env` option ...
 *   await cluster.stop();
 *
 * Choices that make it work on a CI box without systemd, cgroups or a database:
 * - ProctrackType=proctrack/linuxproc, TaskPlugin=task/none: no cgroups needed.
 * - AccountingStorageType=accounting_storage/none: there is no slurmdbd, so `sacct` answers
 *   "Slurm accounting storage is disabled". Finished jobs are still reported by `squeue -t all` and
 *   `scontrol show job` for MinJobAge (600 s here), which is what the provider falls back to.
 * - SlurmdParameters=config_overrides with CPUs=8: more task slots than the 2 real cores, so several
 *   test jobs (and a 2-task srun) run at once.
 * - Two fake GPUs per node (gres.conf points at /dev/null and /dev/zero): `--gres=gpu:N` is accepted and
 *   sets CUDA_VISIBLE_DEVICES, as on a real GPU node.
 * - Partition `debug` (default) has the real node; partition `wide` also has `ghost`, a node that is
 *   defined but DOWN, so `--nodes=2` there is accepted and stays PENDING with a reason instead of being
 *   refused. `wide` has a lower PriorityTier so its stuck job does not hold up `debug`.
 * - OverTimeLimit=0, KillWait=2: a job over its (minimum, 1 minute) time limit ends about a minute in.
 * - SchedulerParameters=bf_interval=1: the backfill scheduler runs every second, not every 30.
 *
 * Needs the apt packages `slurm-wlm` and `munge`. Runs the daemons as the current user (root in CI).
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './sshd';

const run = promisify(execFile);
const BINARIES = ['/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/sbin/munged', '/usr/bin/sbatch'];

export interface SlurmClusterFixture {
  readonly dir: string;
  readonly confPath: string;
  /** Environment every Slurm command needs to find this cluster. */
  readonly env: { SLURM_CONF: string };
  readonly nodeName: string;
  /** Task slots of the node. */
  readonly cpus: number;
  /** Default partition with the real node. */
  readonly partition: 'debug';
  /** Partition that also holds the DOWN node `ghost`: `--nodes=2` pends there. */
  readonly widePartition: 'wide';
  /** A folder "shared" by login and compute node (the same machine). */
  readonly sharedDir: string;
  /** Run a command here with the cluster's environment (for assertions). */
  sh(command: string): Promise<{ stdout: string; stderr: string }>;
  /** slurmctld/slurmd/munged log tails, for failure messages. */
  logs(): Promise<string>;
  stop(): Promise<void>;
}

export async function startSlurmCluster(options: { cpus?: number } = {}): Promise<SlurmClusterFixture> {
  for (const b of BINARIES) {
    await fs.access(b).catch(() => { throw new Error(`${b} not found: install the apt packages slurm-wlm and munge`); });
  }
  const cpus = options.cpus ?? 8;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-slurm-'));
  // Login sessions (other users too) must reach the munge socket and the shared folder.
  await fs.chmod(dir, 0o755);
  const p = (...s: string[]) => path.join(dir, ...s);
  for (const d of ['munge', 'etc', 'state', 'spool', 'shared', 'log']) await fs.mkdir(p(d), { mode: 0o755 });
  await fs.chmod(p('shared'), 0o1777);

  const procs: ChildProcess[] = [];
  const stderrTails = new Map<string, string>();
  const startDaemon = (name: string, bin: string, args: string[], env: NodeJS.ProcessEnv) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    stderrTails.set(name, '');
    child.stderr!.on('data', (d: Buffer) => stderrTails.set(name, (stderrTails.get(name)! + d.toString()).slice(-3000)));
    child.once('error', (e) => stderrTails.set(name, `${stderrTails.get(name)}\nspawn error: ${e.message}`));
    procs.push(child);
    return child;
  };

  const nodeName = os.hostname().split('.')[0]!;
  const confPath = p('etc', 'slurm.conf');
  const env = { SLURM_CONF: confPath };
  const childEnv = { ...process.env, ...env };
  const sh = async (command: string) => run('bash', ['-c', command], { env: childEnv, timeout: 30_000 });

  const fixture: SlurmClusterFixture = {
    dir, confPath, env, nodeName, cpus, partition: 'debug', widePartition: 'wide', sharedDir: p('shared'), sh,
    async logs() {
      const tail = async (f: string) => (await fs.readFile(f, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      return [
        `--- slurmctld.log\n${await tail(p('log', 'slurmctld.log'))}`,
        `--- slurmd.log\n${await tail(p('log', 'slurmd.log'))}`,
        ...[...stderrTails].map(([n, t]) => `--- ${n} stderr\n${t.split('\n').slice(-10).join('\n')}`),
      ].join('\n');
    },
    async stop() {
      // Cancel what is still queued/running so slurmstepd processes do not outlive the cluster.
      await sh('ids=$(squeue -h -o %i 2>/dev/null); [ -z "$ids" ] || scancel $ids').catch(() => {});
      for (let i = 0; i < 50; i++) {
        const left = await sh('squeue -h -o %i 2>/dev/null').then((r) => r.stdout.trim(), () => '');
        if (!left) break;
        await delay(200);
      }
      // slurmd first (it needs slurmctld to say goodbye), munged last (both need it).
      for (const child of [...procs].reverse()) await stopProc(child);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };

  try {
    // munge: a fresh key and its own socket, so it never talks to a system munged.
    const socket = p('munge', 'munge.socket');
    await fs.writeFile(p('munge', 'munge.key'), randomBytes(1024), { mode: 0o400 });
    startDaemon('munged', '/usr/sbin/munged', [
      '-F', '--force', `--key-file=${p('munge', 'munge.key')}`, `--socket=${socket}`, `--pid-file=${p('munge', 'munged.pid')}`,
      `--seed-file=${p('munge', 'munged.seed')}`, `--log-file=${p('log', 'munged.log')}`,
    ], process.env);
    await waitFor('munged socket', 10_000, async () => fs.access(socket).then(() => true, () => false));

    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    await fs.writeFile(confPath, slurmConf({ dir, nodeName, cpus, socket, ctldPort, slurmdPort }));
    await fs.writeFile(p('etc', 'gres.conf'), `AutoDetect=off\nNodeName=${nodeName} Name=gpu File=/dev/null\nNodeName=${nodeName} Name=gpu File=/dev/zero\n`);
    await fs.writeFile(p('etc', 'plugstack.conf'), '');

    startDaemon('slurmctld', '/usr/sbin/slurmctld', ['-D', '-f', confPath], childEnv);
    startDaemon('slurmd', '/usr/sbin/slurmd', ['-D', '-f', confPath, '-N', nodeName], childEnv);
    await waitFor(`node ${nodeName} idle`, 30_000, async () => {
      const r = await sh(`sinfo -h -p debug -n ${nodeName} -o %T`).catch(() => ({ stdout: '' }));
      return r.stdout.trim() === 'idle';
    });
  } catch (e) {
    const logs = await fixture.logs();
    await fixture.stop();
    throw new Error(`${(e as Error).message}\n${logs}`);
  }
  return fixture;
}

function slurmConf(o: { dir: string; nodeName: string; cpus: number; socket: string; ctldPort: number; slurmdPort: number }): string {
  const p = (...s: string[]) => path.join(o.dir, ...s);
  const user = os.userInfo().username;
  return [
    'ClusterName=cloudtraining-test',
    `SlurmctldHost=${o.nodeName}(127.0.0.1)`,
    `SlurmctldPort=${o.ctldPort}`,
    `SlurmdPort=${o.slurmdPort}`,
    `SlurmUser=${user}`,
    `SlurmdUser=${user}`,
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${o.socket}`,
    `StateSaveLocation=${p('state')}`,
    `SlurmdSpoolDir=${p('spool')}`,
    `SlurmctldPidFile=${p('slurmctld.pid')}`,
    `SlurmdPidFile=${p('slurmd.pid')}`,
    `SlurmctldLogFile=${p('log', 'slurmctld.log')}`,
    `SlurmdLogFile=${p('log', 'slurmd.log')}`,
    `PlugStackConfig=${p('etc', 'plugstack.conf')}`,
    'MailProg=/bin/true',
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'MpiDefault=none',
    'ReturnToService=2',
    'SlurmdParameters=config_overrides',
    'OverTimeLimit=0',
    'KillWait=2',
    'MinJobAge=600',
    'InactiveLimit=0',
    'SchedulerType=sched/backfill',
    'SchedulerParameters=bf_interval=1',
    'GresTypes=gpu',
    `NodeName=${o.nodeName} NodeAddr=127.0.0.1 CPUs=${o.cpus} RealMemory=8000 Gres=gpu:2 State=UNKNOWN`,
    // Defined but never up (nothing listens on port 1): makes a 2-node request pend instead of fail.
    'NodeName=ghost NodeAddr=127.0.0.1 Port=1 CPUs=8 RealMemory=8000 State=DOWN Reason=not_a_real_node',
    `PartitionName=debug Nodes=${o.nodeName} Default=YES MaxTime=INFINITE State=UP PriorityTier=10`,
    `PartitionName=wide Nodes=${o.nodeName},ghost MaxTime=INFINITE State=UP PriorityTier=1`,
    '',
  ].join('\n');
}

async function waitFor(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Slurm test cluster: timed out waiting for ${what}`);
    await delay(200);
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
  const gone = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}
