import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { JobSchema, type Job } from '../../../src/core/jobs/schema';
import { readGpuSamples, summaryOf } from '../../../src/core/gpu/samples';
import { readMetrics } from '../../../src/core/logs/metrics';
import { dataLayout } from '../../../src/core/paths';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import { SshProvider } from '../../../src/providers/ssh/provider';
import type { HostSources } from '../../../src/providers/ssh/hosts';
import { startSshd, type SshdFixture } from '../../support/sshd';

/**
 * A fake nvidia-smi whose figures change on every call (a counter file), and which records the SSH
 * connection it ran under, so the test sees that all samples came over one login.
 */
const fakeNvidiaSmi = (stateDir: string) => `#!/bin/sh
case "$*" in
  *utilization.gpu,memory.used,memory.total,power.draw*)
    n=$(cat ${stateDir}/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${stateDir}/n
    echo "$SSH_CONNECTION" >> ${stateDir}/connections
    echo "0, $((n * 7 % 100)), $((1000 + n * 100)), 81559, $((100 + n)).25"
    echo "1, 3, 500, 81559, [N/A]" ;;
  *--query-gpu*) echo "0, NVIDIA H100 80GB HBM3, GPU-0000-test, 81559, 1024, 3" ;;
esac
`;

describe('GPU use of an SSH job, sampled over the held connection (real sshd)', function () {
  this.timeout(90_000);
  let sshd: SshdFixture;
  let tmp: string;
  let provider: SshProvider;
  let pgid: number | undefined;

  before(async () => {
    sshd = await startSshd();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-gpu-ssh-'));
    await fs.mkdir(path.join(tmp, 'state'));
    await sshd.addTool('nvidia-smi', fakeNvidiaSmi(path.join(tmp, 'state')));
    const ws = path.join(tmp, 'ws');
    await fs.mkdir(path.join(ws, 'project'), { recursive: true });
    await fs.mkdir(path.join(ws, 'data', 'cats'), { recursive: true });
    await fs.writeFile(path.join(ws, 'project', 'train.sh'), 'echo "step 1/100 loss=0.9"; sleep 60\n');
    await fs.writeFile(path.join(ws, 'data', 'cats', 'a.txt'), 'cat');
    await fs.writeFile(path.join(ws, 'config.json'), '{}');
    await fs.writeFile(path.join(ws, 'multidatabackend.json'), JSON.stringify([{ id: 'cats', type: 'local', instance_data_dir: 'data/cats' }]));
    const hostSources = (): HostSources => ({
      settingsHosts: [{ name: 'gpu-box', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath }],
      configFile: path.join(tmp, 'no-ssh-config'), home: tmp, knownHostsFiles: [sshd.knownHostsPath], agent: false,
    });
    provider = new SshProvider({ cacheDir: path.join(tmp, 'cache'), killGraceSeconds: 1, hostSources });
  });
  after(async () => {
    if (pgid) { try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ } }
    await provider?.dispose();
    await sshd?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('stores changing samples (per GPU, power N/A allowed) in the metrics sidecar and the latest on the job, one login for all', async () => {
    const layout = dataLayout(path.join(tmp, 'data'));
    const history = new JobHistory(layout.historyDir);
    const providers = new ProviderRegistry();
    providers.register('ssh', () => provider);
    const ctx = { dataHome: layout.home };
    const ws = path.join(tmp, 'ws');
    let job: Job = await history.add(JobSchema.parse({
      id: 'gpu-job', name: 'gpu-job', provider: 'ssh', status: 'uploading', workspace: ws, logPath: path.join(layout.logsDir, 'gpu-job.log'),
      createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
    }));
    const r = await provider.submit(job, {
      command: 'sh {code_dir}/train.sh', trainingConfigPath: path.join(ws, 'config.json'), dataloaderConfigPath: path.join(ws, 'multidatabackend.json'),
      options: { host: 'gpu-box', remoteBaseDir: path.join(sshd.remoteDir, 'base'), codeDir: 'project', template: 'custom', outputDir: path.join(tmp, 'out') },
    }, ctx);
    pgid = (r.metadata as { pgid: number }).pgid;
    job = (await history.update(job.id, (j) => ({ ...j, status: 'running', providerJobId: r.providerJobId, metadata: r.metadata ?? {} })))!;

    // Two "windows" polling the same job: only one samples per interval.
    const m1 = new JobMonitor(history, providers, { dataHome: layout.home, intervalMs: 100, gpuSampleIntervalMs: 400 });
    const m2 = new JobMonitor(new JobHistory(layout.historyDir), providers, { dataHome: layout.home, intervalMs: 100, gpuSampleIntervalMs: 400 });
    const started = Date.now();
    try {
      m1.poke(); m2.poke();
      const deadline = Date.now() + 45_000;
      while ((await readGpuSamples(job.logPath!)).length < 4) {
        if (Date.now() > deadline) throw new Error('timed out waiting for 4 GPU samples');
        await new Promise((res) => setTimeout(res, 100));
      }
    } finally { m1.dispose(); m2.dispose(); }
    // A pass in flight at dispose still finishes (and may add a sample): wait for both to go quiet.
    const quietBy = Date.now() + 45_000;
    while (m1.active || m2.active) {
      if (Date.now() > quietBy) throw new Error('the monitors did not finish their last pass');
      await new Promise((res) => setTimeout(res, 50));
    }
    const elapsed = Date.now() - started;
    // Appended as readings return, so a slow round trip can land after a newer one: order by time.
    const samples = (await readGpuSamples(job.logPath!)).sort((a, b) => a.t - b.t);
    // A sample's time is its claim's time, and a claim needs a full interval since the last one in the
    // history, whichever monitor took it: consecutive samples are at least one interval apart, however
    // slow the SSH round trips are.
    for (let i = 1; i < samples.length; i++) {
      assert.ok(samples[i]!.t - samples[i - 1]!.t >= 400, `one sample per interval across both monitors: ${samples.map((x) => x.t - samples[0]!.t).join(', ')} ms (${elapsed} ms in all)`);
    }
    const first = samples[0]!;
    assert.equal(first.gpus.length, 2);
    assert.deepEqual(first.gpus[1], { index: 1, util: 3, memUsed: 500, memTotal: 81559 });
    const mem = samples.map((s) => s.gpus[0]!.memUsed).sort((a, b) => a - b);
    assert.deepEqual(mem, mem.map((_, i) => mem[0]! + i * 100), 'each sample is a new reading');
    const lowest = samples.find((x) => x.gpus[0]!.memUsed === mem[0])!;
    assert.equal(lowest.gpus[0]!.power, 100 + (mem[0]! - 1000) / 100 + 0.25);
    // The sidecar still reads as loss points for the chart.
    assert.ok((await readMetrics(job.logPath!)).every((p) => typeof p.step === 'number'));
    // The job shows the newest sample, even when an older reading came back after it.
    const summary = summaryOf((await history.get(job.id))!.metadata)!;
    const newest = samples[samples.length - 1]!;
    assert.deepEqual({ at: summary.at, gpus: summary.gpus }, { at: new Date(newest.t).toISOString(), gpus: newest.gpus });
    const connections = (await fs.readFile(path.join(tmp, 'state', 'connections'), 'utf8')).trim().split('\n');
    assert.ok(connections.length >= 4);
    assert.equal(new Set(connections).size, 1, `one SSH connection for every sample: ${[...new Set(connections)].join(' | ')}`);
    await provider.cancel((await history.get(job.id))!, ctx);
  });
});
