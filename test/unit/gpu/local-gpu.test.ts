import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { newJob } from '../../../src/core/jobs/factory';
import { GpuSamplingUnavailable, gpuUnavailableReason, IDLE_WARN_MS, isGpuIdle, nextSummary, parseGpuSample, readGpuSamples, summaryOf, type GpuSummary } from '../../../src/core/gpu/samples';
import { dataLayout } from '../../../src/core/paths';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import { LocalProvider } from '../../../src/providers/local/provider';

describe('GPU use of a local job (fake nvidia-smi on PATH)', function () {
  this.timeout(60_000);
  let tmp: string;
  beforeEach(async () => { tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-gpu-local-')); });
  afterEach(async () => { await fs.rm(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }); });

  it('samples while the job runs, stops when it ends, and records idle time on the job', async () => {
    const bin = path.join(tmp, 'bin');
    await fs.mkdir(bin);
    // Utilisation 2% (idle) for the first three calls, then 95%.
    await fs.writeFile(path.join(bin, 'nvidia-smi'), `#!/bin/sh\nn=$(cat ${tmp}/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${tmp}/n\nif [ $n -le 3 ]; then u=2; else u=95; fi\necho "0, $u, $((2000 + n)), 24576, 70.5"\n`, { mode: 0o755 });
    const layout = dataLayout(path.join(tmp, 'data'));
    const history = new JobHistory(layout.historyDir);
    const provider = new LocalProvider({ jobsDir: layout.jobsDir, env: { PATH: `${bin}:${process.env.PATH}` } });
    const providers = new ProviderRegistry();
    providers.register('local', () => provider);
    const stop = path.join(tmp, 'stop');
    let job = await history.add(newJob(layout, { provider: 'local', name: 'gpu-local' }));
    const r = await provider.submit(job, { command: `while [ ! -e '${stop}' ]; do sleep 0.05; done`, cwd: tmp }, { dataHome: layout.home });
    job = (await history.update(job.id, (j) => ({ ...j, status: 'running', providerJobId: r.providerJobId, metadata: r.metadata ?? {} })))!;
    const monitor = new JobMonitor(history, providers, { dataHome: layout.home, intervalMs: 50, gpuSampleIntervalMs: 300 });
    try {
      monitor.poke();
      const until = async (what: string, fn: () => Promise<boolean>) => {
        const deadline = Date.now() + 30_000;
        while (!(await fn())) { if (Date.now() > deadline) throw new Error(`timed out: ${what}`); await new Promise((res) => setTimeout(res, 50)); }
      };
      await until('2 idle samples', async () => (await readGpuSamples(job.logPath!)).length >= 2);
      const idle = summaryOf((await history.get(job.id))!.metadata)!;
      assert.equal(idle.gpus[0]!.util, 2);
      assert.equal(idle.idleSince, new Date((await readGpuSamples(job.logPath!))[0]!.t).toISOString(), 'idle since the first idle sample');
      await until('a busy sample', async () => summaryOf((await history.get(job.id))!.metadata)?.gpus[0]?.util === 95);
      assert.equal(summaryOf((await history.get(job.id))!.metadata)!.idleSince, undefined, 'a busy sample ends the idle stretch');
      await fs.writeFile(stop, '');
      await until('ended', async () => (await history.get(job.id))!.status === 'succeeded');
      const n = (await readGpuSamples(job.logPath!)).length;
      await new Promise((res) => setTimeout(res, 800));
      assert.equal((await readGpuSamples(job.logPath!)).length, n, 'no samples after the job ended');
    } finally {
      monitor.dispose();
      await fs.writeFile(stop, '').catch(() => undefined);
    }
  });

  it('a provider that cannot sample this job says why once: the reason is kept on the job and it is not asked again', async () => {
    const layout = dataLayout(path.join(tmp, 'data'));
    const history = new JobHistory(layout.historyDir);
    let asked = 0;
    const provider = {
      status: async () => ({ status: 'running' as const }),
      fetchLogs: async () => Buffer.alloc(0),
      sampleGpus: async () => { asked++; throw new GpuSamplingUnavailable('nvidia-smi was not found on the job\'s node'); },
    };
    const providers = new ProviderRegistry();
    providers.register('slurm', () => provider as never);
    const job = await history.add({ ...newJob(layout, { provider: 'slurm', name: 'no-gpu' }), status: 'running', providerJobId: '7' });
    const monitor = new JobMonitor(history, providers, { dataHome: layout.home, intervalMs: 30, gpuSampleIntervalMs: 1 });
    try {
      monitor.poke();
      const deadline = Date.now() + 20_000;
      while (gpuUnavailableReason((await history.get(job.id))!.metadata) === undefined) {
        if (Date.now() > deadline) throw new Error('timed out waiting for the reason');
        await new Promise((res) => setTimeout(res, 30));
      }
      await new Promise((res) => setTimeout(res, 400)); // several more polls
      assert.equal(asked, 1, 'asked once, not every poll');
      const after = (await history.get(job.id))!;
      assert.equal(after.status, 'running', 'the job itself is not affected');
      assert.equal(gpuUnavailableReason(after.metadata), 'nvidia-smi was not found on the job\'s node');
    } finally {
      monitor.dispose();
    }
  });

  it('idle warning only after 10 minutes under 10% on every GPU; unparsable output is no sample', () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const s = (min: number, ...utils: number[]) => ({ t: t0 + min * 60_000, gpus: utils.map((u, index) => ({ index, util: u, memUsed: 1, memTotal: 2 })) });
    let sum: GpuSummary | undefined;
    for (const m of [0, 5, 9.9]) sum = nextSummary(sum, s(m, 4, 9));
    assert.equal(isGpuIdle(sum), false);
    sum = nextSummary(sum, s(10, 4, 9));
    assert.equal(isGpuIdle(sum), true);
    assert.equal(IDLE_WARN_MS, 600_000);
    assert.equal(isGpuIdle(nextSummary(sum, s(11, 4, 50))), false, 'one busy GPU is not idle');
    assert.equal(nextSummary(sum, s(9.5, 4, 50)), sum, 'a reading older than the summary (a slow round trip) does not replace it');
    assert.equal(parseGpuSample('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'), undefined);
    assert.equal(parseGpuSample(''), undefined);
    assert.deepEqual(parseGpuSample('0, 45, 1000, 2000, [N/A]\n', 5)!.gpus, [{ index: 0, util: 45, memUsed: 1000, memTotal: 2000 }]);
  });
});
