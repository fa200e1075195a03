import { estimateCost } from '../../../src/core/cost/estimate';
import { JobSchema } from '../../../src/core/jobs/schema';
import type { ConsentViewData, CostViewData, JobViewData } from '../../../webview/shared/protocol';

/** Sample data for each view: used by the protocol tests and the screenshot script. */
export function sampleConsent(): ConsentViewData {
  return {
    canAlwaysAllow: true,
    summary: {
      provider: 'replicate', providerName: 'Replicate',
      destination: 'Replicate (replicate.com, USA): one zip in your account\'s file storage, read by a SimpleTuner training on l40s',
      afterwards: 'The uploaded zip is deleted from Replicate when the job ends (succeeded, failed or cancelled).',
      datasets: [
        { id: 'pixel-art', root: '/home/ada/fox-lora/datasets/pixel-art', files: 48, bytes: 18_874_368 },
        { id: 'regularisation', root: '/home/ada/fox-lora/datasets/reg', files: 120, bytes: 73_400_320 },
      ],
      excluded: [
        { dataset: 'pixel-art', relPath: '.env', reason: 'sensitive file (.env*)' },
        { dataset: 'pixel-art', relPath: 'keys/id_rsa', reason: 'sensitive file (id_rsa*)' },
        { dataset: 'regularisation', relPath: 'link-to-home', reason: 'symlink leaves the dataset' },
      ],
      totalFiles: 168, totalBytes: 92_274_688, uploadBytes: 90_177_536, reused: false, workspace: '/home/ada/fox-lora',
    },
  };
}

export function sampleCost(mode: 'confirm' | 'info' = 'confirm'): CostViewData {
  const t = '2026-11-19T10:00:00.000Z';
  const history = [1.9, 2.2, 2.6].map((sps, i) => JobSchema.parse({
    id: `h${i}`, name: 'old', provider: 'replicate', hardware: 'l40s', status: 'succeeded', createdAt: t, updatedAt: t, finishedAt: t,
    progress: { step: 1000, secondsPerStep: sps },
  }));
  const estimate = estimateCost({ provider: 'replicate', hardware: 'l40s', configSteps: 2000, history, now: new Date('2026-11-20T10:00:00Z') });
  return {
    estimate,
    spend: { day: 4.2, month: 37.85, byProvider: { replicate: { day: 4.2, month: 31.4 }, ssh: { day: 0, month: 6.45 } } },
    limits: {
      ok: true, message: '',
      applicable: [
        { label: 'Daily (all providers)', limit: 20, spent: 4.2 },
        { label: 'Monthly (all providers)', limit: 100, spent: 37.85 },
        { label: 'Replicate monthly', limit: 50, spent: 31.4 },
      ],
    },
    mode,
  };
}

export function sampleJob(): JobViewData {
  const start = Date.parse('2026-11-20T09:00:00Z');
  const metrics = Array.from({ length: 60 }, (_, i) => {
    const step = (i + 1) * 10;
    return { step, loss: 0.35 * Math.exp(-step / 180) + 0.04 + 0.015 * Math.sin(step / 7), learningRate: step < 100 ? (8e-4 * step) / 100 : 8e-4 * (1 - (step - 100) / 1000) };
  });
  return {
    now: new Date(start + 25 * 60_000).toISOString(),
    canCancel: true,
    metrics: [],
    gpu: [],
    job: JobSchema.parse({
      id: 'mi3k2x7q-a1b2c3', name: 'fox-lora/config.json', provider: 'replicate', providerJobId: 'r8_abc123', providerStatus: 'processing',
      hardware: 'l40s', status: 'running', workspace: '/home/ada/fox-lora',
      configPaths: { training: '/home/ada/fox-lora/config/config.json', dataloader: '/home/ada/fox-lora/config/multidatabackend.json' },
      createdAt: new Date(start - 120_000).toISOString(), updatedAt: new Date(start + 25 * 60_000).toISOString(), startedAt: new Date(start).toISOString(),
      progress: { step: 600, totalSteps: 1000, percent: 60, loss: metrics.at(-1)!.loss, learningRate: metrics.at(-1)!.learningRate, etaSeconds: 1000, secondsPerStep: 2.5 },
      metrics,
      cost: { currency: 'USD', hardware: 'l40s', pricePerHour: 3.5, estimate: { low: 1.6, expected: 2.43, high: 4.1, basis: 'learned from 3 jobs' }, actual: 1.46, billedSeconds: 1500 },
      consent: { decision: 'once', at: new Date(start - 130_000).toISOString(), destination: 'Replicate file storage', datasets: [{ id: 'pixel-art', files: 48, bytes: 18_874_368 }], excludedCount: 3 },
      outputs: [{ kind: 'huggingface', uri: 'https://huggingface.co/ada/fox-lora', label: 'ada/fox-lora' }],
      logPath: '/home/ada/.cloud-training/logs/mi3k2x7q-a1b2c3.log',
    }),
  };
}

/** The cost view when a limit blocks the job: the figures, and Submit disabled. */
export function sampleCostBlocked(): CostViewData {
  const base = sampleCost();
  const message = 'Blocked by the replicate monthly limit of $35.00: spent $31.40 this month + this job\'s estimate $4.28 = $35.68 (raise cloudTraining.limits.perProvider.replicate.monthly to allow it).';
  return { ...base, limits: { ok: false, message, applicable: [{ label: 'Replicate monthly', limit: 35, spent: 31.4 }] } };
}

/** An SSH job with timed loss points and GPU samples on one time axis; its GPUs have idled for 12 minutes. */
export function sampleSshJob(): JobViewData {
  const start = Date.parse('2026-11-20T09:00:00Z');
  const base = sampleJob();
  const metrics = base.job.metrics!.map((m, i) => ({ ...m, t: start + (i + 1) * 25_000 }));
  const gpu = Array.from({ length: 50 }, (_, i) => ({
    t: start + i * 30_000,
    gpus: [0, 1].map((index) => ({ index, util: i < 26 ? 85 + ((i * 7 + index * 3) % 12) : 4, memUsed: 30_000 + index * 1500 + (i % 5) * 200, memTotal: 81_559, power: i < 26 ? 520 : 95 })),
  }));
  const last = gpu[gpu.length - 1]!;
  return {
    ...base,
    metrics,
    gpu,
    job: JobSchema.parse({
      ...base.job, id: 'mi3k2x7q-ssh001', name: 'fox-lora on gpu-box', provider: 'ssh', providerJobId: 'gpu-box:4242', providerStatus: 'running', hardware: 'gpu-box',
      metrics: undefined, outputs: [],
      metadata: { gpu: { at: new Date(last.t).toISOString(), gpus: last.gpus, idleSince: new Date(gpu[26]!.t).toISOString() } },
    }),
  };
}
