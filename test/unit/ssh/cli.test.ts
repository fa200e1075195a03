import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runSsh } from '../../../src/cli/commands/ssh';
import type { CliIO } from '../../../src/cli/io';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { capturedIo } from '../../support/captured-io';

describe('cloudtrain ssh (real sshd)', function () {
  this.timeout(30_000);
  let sshd: SshdFixture;
  let tmp: string;
  before(async () => {
    sshd = await startSshd();
    // No GPU on CI: a fake nvidia-smi on the test sshd's PATH (fixture binDir, via SetEnv).
    await sshd.addTool('nvidia-smi', '#!/bin/sh\ncase "$*" in *--query-gpu*) echo "0, NVIDIA L40S, GPU-x, 46068, 10, 0";; esac\n');
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
});
