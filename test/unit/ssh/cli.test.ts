import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runSsh } from '../../../src/cli/commands/ssh';
import { submitCommand } from '../../../src/cli/commands/submit';
import { runCancel } from '../../../src/cli/commands/cancel';
import { runResubmit } from '../../../src/cli/commands/resubmit';
import { runLogs } from '../../../src/cli/commands/logs';
import type { CliIO } from '../../../src/cli/io';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { capturedIo } from '../../support/captured-io';

describe('cloudtrain ssh (real sshd)', function () {
  this.timeout(60_000);
  let sshd: SshdFixture;
  let tmp: string;
  before(async () => {
    sshd = await startSshd();
    // No GPU on CI: a fake nvidia-smi on the test sshd's PATH (fixture binDir, via SetEnv).
    await sshd.addTool('nvidia-smi', '#!/bin/sh\ncase "$*" in *--query-gpu*) echo "0, NVIDIA L40S, GPU-x, 46068, 10, 0";; esac\n');
    // A trainer that writes a checkpoint per step and, given --resume_from_checkpoint=latest, continues
    // after the newest one (what the custom template's {resume} asks for).
    await sshd.addTool('fake-train', [
      '#!/bin/sh',
      'out=$1; total=$2; start=1',
      'if [ "$3" = "--resume_from_checkpoint=latest" ]; then',
      '  last=$(ls "$out" | sed -n "s/^checkpoint-//p" | sort -n | tail -n 1)',
      '  echo "resuming from checkpoint-$last"; start=$((last + 1))',
      'fi',
      'i=$start; while [ $i -le $total ]; do mkdir -p "$out/checkpoint-$i"; echo "step $i/$total"; sleep 0.05; i=$((i + 1)); done',
      '',
    ].join('\n'));
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-sshcli-'));
  });
  after(async () => {
    await sshd?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  function io(env: Record<string, string>): CliIO & { out: () => string; err: () => string } {
    return capturedIo({ env, cwd: tmp, dataHome: tmp });
  }
  const hostsEnv = () => JSON.stringify([{ name: 'box', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath }]);

  it('lists hosts and checks GPUs on a trusted host', async () => {
    const env = { CLOUD_TRAINING_SSH_HOSTS: hostsEnv(), CLOUD_TRAINING_SSH_CONFIG: path.join(tmp, 'none'), CLOUD_TRAINING_SSH_KNOWN_HOSTS: sshd.knownHostsPath, SSH_AUTH_SOCK: '' };
    const a = io(env);
    assert.equal(await runSsh(['hosts'], a), 0);
    assert.match(a.out(), new RegExp(`^box\\s+${sshd.user}@127\\.0\\.0\\.1:${sshd.port}\\s+settings`));
    const b = io(env);
    assert.equal(await runSsh(['check', 'box', '--json'], b), 0);
    assert.equal(JSON.parse(b.out()).gpus[0].name, 'NVIDIA L40S');
  });

  it('refuses an unknown host when there is no terminal to ask', async () => {
    const empty = path.join(tmp, 'empty_known_hosts');
    await fs.writeFile(empty, '');
    const c = io({ CLOUD_TRAINING_SSH_HOSTS: hostsEnv(), CLOUD_TRAINING_SSH_CONFIG: path.join(tmp, 'none'), CLOUD_TRAINING_SSH_KNOWN_HOSTS: empty, SSH_AUTH_SOCK: '' });
    await assert.rejects(runSsh(['check', 'box'], c), /not trusted|not known/);
    assert.equal(await fs.readFile(empty, 'utf8'), '');
    await assert.rejects(runSsh(['frobnicate'], c), /usage/);
  });

  it('submit, cancel, then `cloudtrain resubmit` resumes from the checkpoint the run left (--remote-dir)', async function () {
    // Two submits, two cancels (each may wait for the process to go) and two bounded 20 s waits: 60 s
    // was not always enough on a loaded machine.
    this.timeout(150_000);
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(path.join(ws, 'data', 'cats'), { recursive: true });
    await fs.writeFile(path.join(ws, 'data', 'cats', 'a.txt'), 'a cat');
    await fs.writeFile(path.join(ws, 'multidatabackend.json'), JSON.stringify([{ id: 'cats', type: 'local', instance_data_dir: 'data/cats' }]));
    const remoteBase = path.join(sshd.remoteDir, 'big-disk');
    const env = { CLOUD_TRAINING_SSH_HOSTS: hostsEnv(), CLOUD_TRAINING_SSH_CONFIG: path.join(tmp, 'none'), CLOUD_TRAINING_SSH_KNOWN_HOSTS: sshd.knownHostsPath, SSH_AUTH_SOCK: '' };
    const cli = () => capturedIo({ env, cwd: ws, dataHome: path.join(tmp, 'home') });

    const sub = cli();
    const code = await submitCommand(['--provider', 'ssh', '--hardware', 'box', '--config', 'multidatabackend.json', '--command', 'fake-train {output_dir} 400{resume}', '--remote-dir', remoteBase, '--yes', '--json'], sub);
    assert.equal(code, 0, sub.err());
    const first = JSON.parse(sub.out()).job as { id: string; metadata: { remoteOutputDir: string; jobRoot: string } };
    assert.ok(first.metadata.jobRoot.startsWith(`${remoteBase}/`), first.metadata.jobRoot);
    const deadline = Date.now() + 20_000;
    while ((await fs.readdir(first.metadata.remoteOutputDir).catch(() => [])).length < 5) {
      if (Date.now() > deadline) throw new Error('no checkpoints');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await runCancel([first.id], cli()), 0);
    const last = Math.max(...(await fs.readdir(first.metadata.remoteOutputDir)).map((n) => Number(n.replace('checkpoint-', ''))));

    const re = cli();
    assert.equal(await runResubmit([first.id, '--yes', '--json'], re), 0, re.err());
    const second = JSON.parse(re.out()).job as { id: string; name: string; metadata: { jobRoot: string; resumed: boolean } };
    assert.equal(second.metadata.jobRoot, first.metadata.jobRoot, 'same job folder on the host');
    assert.equal(second.metadata.resumed, true);
    assert.match(second.name, /\(resumed\)$/);
    let log = '';
    for (const until = Date.now() + 20_000; !log.includes(`step ${last + 2}/400`) && Date.now() < until;) {
      const l = cli();
      await runLogs([second.id], l);
      log = l.out();
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(log, new RegExp(`^resuming from checkpoint-${last}\nstep ${last + 1}/400`));
    assert.equal(await runCancel([second.id], cli()), 0);
    await assert.rejects(runResubmit([], cli()), /usage/);
  });
});
