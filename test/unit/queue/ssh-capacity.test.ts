import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import { capacityResolver, configuredCapacity } from '../../../src/core/queue/capacity';
import { SshProvider } from '../../../src/providers/ssh/provider';
import type { HostSources } from '../../../src/providers/ssh/hosts';
import { startSshd, type SshdFixture } from '../../support/sshd';

/** The GPU check's query answered with two GPUs, as a 2-GPU host would. */
const twoGpus = `#!/bin/sh
case "$*" in
  *--query-gpu=index,name*) echo "0, NVIDIA A100, GPU-0000-a, 40960, 10, 0"; echo "1, NVIDIA A100, GPU-0000-b, 40960, 10, 0" ;;
  *--query-compute-apps*) ;;
esac
`;

describe('queue: an SSH host\'s capacity is its GPU count from the GPU check (real sshd, fake nvidia-smi)', function () {
  this.timeout(90_000);
  let sshd: SshdFixture;
  let tmp: string;
  let provider: SshProvider;

  before(async () => {
    sshd = await startSshd();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-queue-ssh-'));
    const hostSources = (): HostSources => ({
      settingsHosts: [{ name: 'gpu-box', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath }],
      configFile: path.join(tmp, 'no-ssh-config'), home: tmp, knownHostsFiles: [sshd.knownHostsPath], agent: false,
    });
    provider = new SshProvider({ cacheDir: path.join(tmp, 'cache'), hostSources });
  });
  after(async () => {
    await provider?.dispose();
    await sshd?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('1 without nvidia-smi, 2 with two GPUs; the per-host setting wins', async () => {
    const providers = new ProviderRegistry();
    providers.register('ssh', () => provider);
    // No nvidia-smi on the host yet: unknown, so the queue uses 1.
    assert.equal(await provider.capacity('gpu-box', { dataHome: tmp }), undefined);
    assert.equal(await capacityResolver(providers)('ssh:gpu-box', 'ssh', 'gpu-box'), 1);
    await sshd.addTool('nvidia-smi', twoGpus);
    assert.equal(await provider.capacity('gpu-box', { dataHome: tmp }), 2);
    assert.equal(await capacityResolver(providers)('ssh:gpu-box', 'ssh', 'gpu-box'), 2);
    const settings = { ssh: { hostCapacity: 3, hostCapacities: { 'gpu-box': 1 } } };
    assert.equal(await capacityResolver(providers, { configured: (t) => configuredCapacity(settings, t) })('ssh:gpu-box', 'ssh', 'gpu-box'), 1);
  });
});
