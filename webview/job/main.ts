import '../shared/zod-config'; // first: before any schema is parsed
import type { Job } from '../../src/core/jobs/schema';
import { lineChart } from '../shared/chart';
import { GpuSummarySchema, isGpuIdle } from '../../src/core/gpu/schema';
import { vscodeApi } from '../shared/client';
import { el, facts, formatBytes, formatDuration, formatTime, section, usd } from '../shared/dom';
import { appRoot, startPage, status } from '../shared/page';
import type { JobViewData } from '../shared/protocol';
import { badge, button, setDisabled, tag } from '../shared/toolkit';

/** Job details: status, timeline, inputs, outputs, cost, and a live loss/learning-rate chart. */
startPage('job', (data, client) => {
  const { job } = data;
  // Remembered by VS Code so the panel can be restored after a reload (WebviewPanelSerializer).
  vscodeApi().setState({ jobId: job.id });
  const feedback = el('div', { className: 'feedback' });
  const act = async (label: string, fn: () => Promise<unknown>, b: HTMLElement) => {
    setDisabled(b, true);
    try {
      await fn();
    } catch (e) {
      feedback.replaceChildren(status(`${label}: ${(e as Error).message}`, 'error'));
    } finally {
      setDisabled(b, false);
    }
  };
  const logs: HTMLElement = button('Show logs', { id: 'show-logs', appearance: 'secondary', onClick: () => void act('Show logs', () => client.request('job.showLogs', { jobId: job.id }), logs) });
  const cancel: HTMLElement = button('Cancel job', { id: 'cancel-job', appearance: 'secondary', disabled: !data.canCancel, onClick: () => void act('Cancel', () => client.request('job.cancel', { jobId: job.id }), cancel) });

  const p = job.progress;
  const pct = p.percent ?? (p.step !== undefined && p.totalSteps ? (100 * p.step) / p.totalSteps : undefined);
  const progress = el('progress', { className: 'job-progress' });
  progress.max = 100;
  if (pct !== undefined) progress.value = pct;

  appRoot().replaceChildren(
    el('header', {},
      el('h1', { text: job.name }),
      el('div', { className: 'headline' },
        tag(job.status, `status-${job.status}`),
        el('span', { className: 'muted', text: `${job.provider}${job.hardware ? ` · ${job.hardware}` : ''} · ${job.id}` }),
        job.providerStatus ? badge(job.providerStatus) : undefined),
      job.statusDetail ? el('p', { className: 'muted', text: job.statusDetail }) : undefined,
      job.error ? el('p', { className: 'error', text: job.error }) : undefined,
    ),
    el('div', { className: 'progress-row' }, progress, el('span', { text: progressText(job) })),
    el('div', { className: 'actions' }, logs, cancel),
    feedback,
    ...charts(data),
    el('div', { className: 'columns' },
      section('Timeline', facts(timeline(data))),
      section('Cost', facts(costFacts(job))),
    ),
    section('Inputs', facts([
      ['Training config', job.configPaths.training],
      ['Dataloader config', job.configPaths.dataloader],
      ['Workspace', job.workspace],
      ['Upload consent', job.consent ? `${consentText(job.consent.decision)} at ${formatTime(job.consent.at)}` : undefined],
      ['Datasets sent', job.consent?.datasets.length ? job.consent.datasets.map((d) => `${d.id} (${d.files} files, ${formatBytes(d.bytes)})`).join(', ') : undefined],
      ['Provider job', job.providerJobId],
    ])),
    section(`Outputs (${job.outputs.length})`, job.outputs.length
      ? el('ul', { className: 'outputs' }, ...job.outputs.map((o) => {
        const open: HTMLElement = button('Open', { appearance: 'secondary', onClick: () => void act('Open', () => client.request('job.openOutput', { jobId: job.id, uri: o.uri }), open) });
        return el('li', {}, el('span', { text: `${o.label ?? o.kind}: ${o.uri}${o.bytes ? ` (${formatBytes(o.bytes)})` : ''}` }), open);
      }))
      : el('p', { className: 'muted', text: 'Nothing yet: outputs appear when the job finishes.' })),
  );
});

/**
 * Loss/lr and, for SSH, local and Slurm jobs, GPU use under it (or why it is not sampled). With timed points (the monitor stamps each)
 * both charts share one axis, minutes since the job started; older jobs' points only have steps.
 */
function charts(data: JobViewData): HTMLElement[] {
  const { job, gpu } = data;
  const metrics = data.metrics.length ? data.metrics : (job.metrics ?? []);
  const timed = metrics.length > 0 && metrics.every((m) => m.t !== undefined);
  const times = [...(timed ? metrics.map((m) => m.t!) : []), ...gpu.map((g) => g.t)];
  const origin = job.startedAt ? Date.parse(job.startedAt) : Math.min(...times);
  const min = (t: number) => (t - origin) / 60_000;
  const xDomain: [number, number] | undefined = times.length ? [Math.min(0, ...times.map(min)), Math.max(...times.map(min))] : undefined;
  const x = (m: (typeof metrics)[number]) => (timed ? min(m.t!) : m.step);
  const out = [section('Loss and learning rate', lineChart([
    { name: 'loss', className: 's-loss', points: metrics.filter((m) => m.loss !== undefined).map((m) => ({ x: x(m), y: m.loss! })) },
    { name: 'learning rate', className: 's-lr', points: metrics.filter((m) => m.learningRate !== undefined).map((m) => ({ x: x(m), y: m.learningRate! })) },
  ], timed ? { xLabel: 'minutes since start', xDomain } : { xLabel: 'step' }))];
  const unavailable = typeof job.metadata.gpuUnavailable === 'string' ? job.metadata.gpuUnavailable : undefined;
  if (unavailable && !gpu.length) {
    out.push(section('GPU use', el('p', { className: 'muted', text: `Not sampled: ${unavailable}.` })));
  } else if (job.provider === 'ssh' || job.provider === 'local' || job.provider === 'slurm' || gpu.length) {
    const last = gpu[gpu.length - 1];
    out.push(section('GPU use', lineChart([
      { name: 'utilisation % (mean of GPUs)', className: 's-loss', points: gpu.map((g) => ({ x: min(g.t), y: g.gpus.reduce((a, r) => a + r.util, 0) / g.gpus.length })) },
      { name: 'memory used (GiB, all GPUs)', className: 's-lr', points: gpu.map((g) => ({ x: min(g.t), y: g.gpus.reduce((a, r) => a + r.memUsed, 0) / 1024 })) },
    ], { xLabel: 'minutes since start', xDomain, empty: 'No GPU samples yet: nvidia-smi is read every 30 s while the job runs.' }),
    job.status === 'running' && isGpuIdle(GpuSummarySchema.safeParse(job.metadata.gpu).data) ? el('p', { className: 'error', text: '⚠ GPU idle — data loading bound? (every GPU under 10% for 10 minutes)' }) : undefined,
    last ? el('p', { className: 'muted', text: last.gpus.map((r) => `GPU ${r.index}: ${r.util}% · ${(r.memUsed / 1024).toFixed(1)}/${(r.memTotal / 1024).toFixed(1)} GiB${r.power !== undefined ? ` · ${Math.round(r.power)} W` : ''}`).join('  |  ') }) : undefined));
  }
  return out;
}

function progressText(job: Job): string {
  const p = job.progress;
  const parts: string[] = [];
  if (p.step !== undefined) parts.push(`step ${p.step}${p.totalSteps ? ` of ${p.totalSteps}` : ''}`);
  if (p.loss !== undefined) parts.push(`loss ${p.loss.toPrecision(3)}`);
  if (p.learningRate !== undefined) parts.push(`lr ${p.learningRate.toExponential(2)}`);
  if (p.etaSeconds !== undefined && p.etaSeconds > 0) parts.push(`about ${formatDuration(p.etaSeconds)} left`);
  return parts.join(' · ') || 'No progress reported yet';
}

function timeline(data: JobViewData): [string, string | undefined][] {
  const j = data.job;
  const now = Date.parse(data.now);
  const end = j.finishedAt ? Date.parse(j.finishedAt) : now;
  return [
    ['Created', formatTime(j.createdAt)],
    ['Started', j.startedAt ? `${formatTime(j.startedAt)} (waited ${formatDuration((Date.parse(j.startedAt) - Date.parse(j.createdAt)) / 1000)})` : undefined],
    ['Finished', j.finishedAt ? formatTime(j.finishedAt) : undefined],
    ['Running for', j.startedAt ? formatDuration((end - Date.parse(j.startedAt)) / 1000) : undefined],
    ['Cancel requested', j.cancelRequestedAt ? formatTime(j.cancelRequestedAt) : undefined],
  ];
}

function costFacts(j: Job): [string, string | undefined][] {
  const c = j.cost;
  if (!c) return [['Cost', 'not tracked for this job']];
  return [
    ['Price', c.pricePerHour !== undefined ? `${usd(c.pricePerHour)} per hour${c.hardware ? ` (${c.hardware})` : ''}` : undefined],
    ['Estimate', c.estimate ? `${usd(c.estimate.expected)} (${usd(c.estimate.low)}–${usd(c.estimate.high)})` : undefined],
    [j.finishedAt ? 'Actual' : 'So far', c.actual !== undefined ? `${usd(c.actual)}${c.billedSeconds ? ` for ${formatDuration(c.billedSeconds)}` : ''}` : undefined],
  ];
}

function consentText(d: string): string {
  return ({ once: 'Allowed once', 'always-workspace': 'Always allowed for this workspace', 'setting-allow': 'Allowed by setting', 'not-required': 'Not needed (data stayed here)' } as Record<string, string>)[d] ?? d;
}
