import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_JS, killLiveClis, runCli, type CliRun } from '../../support/cli-process';
import { startSlurmCluster, type SlurmClusterFixture } from '../../support/slurm-cluster';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { FakeReplicate } from '../../support/replicate-server/server';

const EXAMPLE = path.resolve(__dirname, '../../../examples/simpletuner-demo');

/** A command must be gone this long after its last line (generous for a loaded 2-core machine). */
// A command still running this long after its last line is hung. Not shorter: `cancel` may wait 30 s
// for a job to stop (bounded), and `--follow` is quiet while a loaded machine's Slurm job is pending.
const QUIET_LIMIT_MS = 45_000;

/**
 * Issue 20: every CLI command that talks to an SSH host (directly or through a ProxyJump host) or a
 * Slurm login node must exit by itself, with the right code, once it is done — run as the real
 * `dist/cli.js` child process, never killed by the test unless it hangs (then the test fails).
 */
describe('cloudtrain exits by itself after SSH and Slurm commands (real processes, sshd, Slurm)', function () {
  this.timeout(240_000);
  let cluster: SlurmClusterFixture;
  let sshd: SshdFixture;
  let tmp: string;
  const lingers: string[] = [];

  before(async function () {
    this.timeout(120_000);
    await fs.access(CLI_JS).catch(() => { throw new Error(`${CLI_JS} is missing: run npm run build first`); });
    cluster = await startSlurmCluster();
    // One sshd: an SSH host, its own jump host, and the Slurm login node (SLURM_CONF in every session).
    sshd = await startSshd({ env: cluster.env });
    // A trainer writing a checkpoint and a line per step; resumed, it continues after the newest
    // checkpoint without waiting, so a resumed run ends quickly.
    await sshd.addTool('fake-train', [
      '#!/bin/sh',
      'out=$1; total=$2; start=1; pause=0.1',
      'if [ "$3" = "--resume_from_checkpoint=latest" ]; then',
      '  last=$(ls "$out" | sed -n "s/^checkpoint-//p" | sort -n | tail -n 1)',
      '  echo "resuming from checkpoint-$last"; start=$((last + 1)); pause=0',
      'fi',
      'i=$start; while [ $i -le $total ]; do mkdir -p "$out/checkpoint-$i"; echo "step $i/$total"; sleep $pause; i=$((i + 1)); done',
      '',
    ].join('\n'));
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-exit-'));
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(path.join(ws, 'data', 'cats'), { recursive: true });
    await fs.writeFile(path.join(ws, 'data', 'cats', 'a.txt'), 'a cat');
    await fs.mkdir(path.join(ws, 'config'));
    await fs.writeFile(path.join(ws, 'config', 'config.json'), JSON.stringify({ '--max_train_steps': 3, '--data_backend_config': 'config/multidatabackend.json' }));
    await fs.writeFile(path.join(ws, 'config', 'multidatabackend.json'), JSON.stringify([{ id: 'cats', type: 'local', instance_data_dir: 'data/cats' }]));
    // ProxyJump through the same sshd: "box-jump" is reached by a TCP forward from "jump".
    const id = `  HostName ${sshd.host}\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ${sshd.userKeyPath}\n  IdentitiesOnly yes\n`;
    await fs.writeFile(path.join(tmp, 'ssh_config'), `Host jump\n${id}Host box-jump\n${id}  ProxyJump jump\n`);
    // Slurm: the trainer on the shared folder; "{resume}" makes a resumed run end at once.
    await fs.writeFile(path.join(cluster.sharedDir, 'train.sh'), [
      '#!/bin/sh',
      'if [ "$1" = "--resume_from_checkpoint=latest" ]; then echo resumed; exit 0; fi',
      'i=1; while [ $i -le "${STEPS:-3}" ]; do echo "step $i"; sleep 0.2; i=$((i + 1)); done',
      '',
    ].join('\n'), { mode: 0o755 });
  });

  afterEach(() => killLiveClis());
  after(async () => {
    killLiveClis();
    if (lingers.length) console.log(`      exit after last line (ms): ${lingers.join(', ')}`);
    if (sshd) await killRemoteJobs(sshd.remoteDir);
    await sshd?.stop();
    await cluster?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  /** A data folder of its own per test, so `jobs` refreshes only that test's jobs. */
  async function home(name: string, settings: Record<string, unknown> = {}): Promise<string> {
    const dir = path.join(tmp, `home-${name}`);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'settings.json'), JSON.stringify({
      'cloudTraining.slurm.clusters': [{ host: 'slurm-login', sharedDir: cluster.sharedDir, partition: 'debug', pricePerGpuHour: 0 }],
      ...settings,
    }));
    return dir;
  }

  function env(dataHome: string): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH, HOME: tmp, CLOUD_TRAINING_HOME: dataHome, SSH_AUTH_SOCK: '',
      CLOUD_TRAINING_SSH_HOSTS: JSON.stringify([
        { name: 'box', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath },
        { name: 'slurm-login', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath },
      ]),
      CLOUD_TRAINING_SSH_CONFIG: path.join(tmp, 'ssh_config'), CLOUD_TRAINING_SSH_KNOWN_HOSTS: sshd.knownHostsPath,
    };
  }

  /** Run `cloudtrain …` and assert it exited by itself with `code` (and no exit-guard warning). */
  async function cli(dataHome: string, args: string[], code: number, extra: Partial<Parameters<typeof runCli>[1]> = {}): Promise<CliRun> {
    const r = await runCli(args, { env: env(dataHome), cwd: path.join(tmp, 'ws'), quietLimitMs: QUIET_LIMIT_MS, ...extra });
    const what = `cloudtrain ${args.join(' ')}\n--- stdout\n${r.out}\n--- stderr\n${r.err}`;
    assert.ok(!r.hung, `still running ${QUIET_LIMIT_MS / 1000} s after its last line (killed): ${what}`);
    assert.equal(r.code, code, what);
    assert.doesNotMatch(r.err, /after the command ended/, `the exit guard fired: a handle was left open: ${what}`);
    lingers.push(String(r.lingerMs));
    return r;
  }

  const sshSubmit = (host: string, steps: number, dataHome: string) => ['submit', '--provider', 'ssh', '--hardware', host,
    '--config', 'config/multidatabackend.json', '--command', `fake-train {output_dir} ${steps}{resume}`,
    '--remote-dir', path.join(sshd.remoteDir, path.basename(dataHome)), '--yes'];
  const jobOf = async (dataHome: string, id: string) => (JSON.parse((await cli(dataHome, ['jobs', id, '--json', '--no-refresh'], 0)).out) as { status: string; metadata: Record<string, string> });

  it('SSH: submit --follow ends with the job and exits 0', async () => {
    const h = await home('ssh-follow');
    const r = await cli(h, [...sshSubmit('box', 5, h), '--follow'], 0);
    assert.match(r.out, /step 5\/5/);
    assert.match(r.err, /succeeded/);
  });

  it('SSH: submit, jobs, jobs <id>, logs, logs --follow + Ctrl-C, cancel, resubmit --follow each exit with the right code', async () => {
    const h = await home('ssh-flow');
    const id = (await cli(h, sshSubmit('box', 600, h), 0)).out.trim();
    assert.match(id, /^\S+$/);
    // Wait (bounded) for a few checkpoints so the resume has something to continue from.
    const outDir = (await jobOf(h, id)).metadata.remoteOutputDir!;
    for (const until = Date.now() + 30_000; (await fs.readdir(outDir).catch(() => [])).length < 3;) {
      if (Date.now() > until) throw new Error('no checkpoints on the host');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match((await cli(h, ['jobs'], 0)).out, /running\s+ssh/);
    assert.match((await cli(h, ['jobs', id], 0)).out, /running/);
    assert.match((await cli(h, ['logs', id], 0)).out, /^step 1\/600$/m);
    // Ctrl-C while following: 130, promptly, and the job keeps running.
    let sent = false;
    const followed = await cli(h, ['logs', id, '--follow'], 130, {
      onOutput: (child, out) => { if (!sent && /step \d+\/600/.test(out)) { sent = true; child.kill('SIGINT'); } },
    });
    assert.ok(sent, followed.out);
    assert.equal((await jobOf(h, id)).status, 'running');
    assert.match((await cli(h, ['cancel', id], 0)).out, /cancelled/);
    const re = await cli(h, ['resubmit', id, '--yes', '--follow'], 0);
    assert.match(re.out, /resuming from checkpoint-\d+/);
    assert.match(re.out, /step 600\/600/);
  });

  it('SSH: Ctrl-C at the upload consent prompt on a terminal exits 130 and submits nothing', async () => {
    const h = await home('ssh-prompt');
    let sent = false;
    const r = await cli(h, sshSubmit('box', 5, h).filter((a) => a !== '--yes'), 130, {
      tty: true,
      onOutput: (child, out) => { if (!sent && /Upload\?/.test(out)) { sent = true; child.stdin!.write('\x03'); } },
    });
    assert.ok(sent, r.out);
    assert.deepEqual(JSON.parse((await cli(h, ['jobs', '--json'], 0)).out), []);
  });

  it('SSH through a ProxyJump host: submit --follow, submit, jobs, cancel', async () => {
    const h = await home('ssh-jump');
    assert.match((await cli(h, [...sshSubmit('box-jump', 3, h), '--follow'], 0)).out, /step 3\/3/);
    const id = (await cli(h, sshSubmit('box-jump', 600, h), 0)).out.trim();
    for (const until = Date.now() + 30_000; !/step 1\/600/.test((await cli(h, ['logs', id], 0)).out);) {
      if (Date.now() > until) throw new Error('the job through the jump host never started');
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.match((await cli(h, ['jobs'], 0)).out, /running\s+ssh/);
    assert.match((await cli(h, ['cancel', id], 0)).out, /cancelled/);
  });

  it('SSH: a spending-limit refusal exits 3, bad arguments 2, an unknown job 1, a failure after connecting 1', async () => {
    const h = await home('ssh-limit', { 'cloudTraining.pricing.ssh.perGpuHour': 1000, 'cloudTraining.limits.daily': 0.01 });
    const refused = await cli(h, [...sshSubmit('box', 5, h), '--steps', '100000'], 3);
    assert.match(refused.err, /limit/i);
    await cli(h, [...sshSubmit('box', 5, h), '--bogus'], 2);
    await cli(h, ['cancel', 'no-such-job'], 1);
    // Connected, then the host refuses the folder: the error path closes the connection too.
    const failed = await cli(await home('ssh-fail'), [...sshSubmit('box', 5, h).slice(0, -3), '--remote-dir', '/proc/not-a-folder', '--yes'], 1);
    assert.match(failed.err, /Connecting to box/);
  });

  it('serve runs until Ctrl-C, then stops its server and exits 0 by itself', async () => {
    const h = await home('serve');
    let sent = false;
    const r = await cli(h, ['serve', '--port', '0', '--storage', path.join(tmp, 'store')], 0, {
      onOutput: (child, out) => { if (!sent && /Press Ctrl\+C/.test(out)) { sent = true; child.kill('SIGINT'); } },
    });
    assert.ok(sent, r.out);
    assert.match(r.out, /stopped\n$/);
  });

  it('Slurm: submit --follow, submit, jobs, jobs <id>, cancel, resubmit --follow each exit with the right code', async () => {
    const h = await home('slurm');
    const submit = (steps: number) => ['submit', '--provider', 'slurm', '--hardware', 'slurm-login', '--config', 'config/config.json',
      '--command', `env STEPS=${steps} ${path.join(cluster.sharedDir, 'train.sh')}{resume}`, '--launcher', 'srun',
      '--cpus-per-task', '1', '--gpus-per-node', '0', '--time', '5', '--yes'];
    const done = await cli(h, [...submit(3), '--follow'], 0);
    assert.match(done.out, /step 3/);
    const id = (await cli(h, submit(3000), 0)).out.trim();
    for (const until = Date.now() + 60_000; !/step 1/.test((await cli(h, ['logs', id], 0)).out);) {
      if (Date.now() > until) throw new Error(`the Slurm job never started\n${await cluster.logs()}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.match((await cli(h, ['jobs'], 0)).out, /running\s+slurm/);
    assert.match((await cli(h, ['jobs', id], 0)).out, /running/);
    assert.match((await cli(h, ['cancel', id], 0)).out, /cancelled/);
    assert.match((await cli(h, ['resubmit', id, '--yes', '--follow'], 0)).out, /resumed/);
  });
});

/** After a failed test: stop the SSH jobs it left running (their process groups, from the job folders' pid files). */
async function killRemoteJobs(dir: string): Promise<void> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile() || e.name !== 'pid') continue;
    const pid = Number((await fs.readFile(path.join(e.parentPath ?? e.path, e.name), 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 1) continue;
    for (const target of [-pid, pid]) {
      try { process.kill(target, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
}

describe('cloudtrain exits by itself after local and Replicate commands (real processes)', function () {
  this.timeout(120_000);
  let server: FakeReplicate;
  let tmp: string;
  before(async () => {
    await fs.access(CLI_JS).catch(() => { throw new Error(`${CLI_JS} is missing: run npm run build first`); });
    server = new FakeReplicate();
    await server.start();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-exit-other-'));
  });
  afterEach(() => killLiveClis());
  after(async () => {
    killLiveClis();
    await server?.close();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  async function cli(args: string[], code: number): Promise<CliRun> {
    const env = { PATH: process.env.PATH, HOME: tmp, CLOUD_TRAINING_HOME: path.join(tmp, 'home'), DEMO_STEP_SECONDS: '0.002', REPLICATE_BASE_URL: server.base, REPLICATE_API_TOKEN: server.token };
    const r = await runCli(args, { env, cwd: EXAMPLE, quietLimitMs: QUIET_LIMIT_MS });
    const what = `cloudtrain ${args.join(' ')}\n--- stdout\n${r.out}\n--- stderr\n${r.err}`;
    assert.ok(!r.hung, `still running ${QUIET_LIMIT_MS / 1000} s after its last line (killed): ${what}`);
    assert.equal(r.code, code, what);
    assert.doesNotMatch(r.err, /after the command ended/, `the exit guard fired: ${what}`);
    return r;
  }

  it('local: submit --follow, jobs', async () => {
    assert.match((await cli(['submit', '--provider', 'local', '--config', 'config/config.json', '--yes', '--follow'], 0)).out, /Training complete/);
    assert.match((await cli(['jobs'], 0)).out, /succeeded\s+local/);
  });

  it('Replicate: submit --follow, submit, jobs, cancel', async () => {
    const done = await cli(['submit', '--provider', 'replicate', '--config', 'config/config.json', '--hardware', 'h100-x2', '--yes', '--follow'], 0);
    assert.match(done.err, /succeeded/);
    server.script = { ...server.script, chunkMs: 2000 };
    const id = (await cli(['submit', '--provider', 'replicate', '--config', 'config/config.json', '--yes'], 0)).out.trim();
    await cli(['jobs'], 0);
    assert.match((await cli(['cancel', id], 0)).out, /cancelled/);
  });
});
