import * as vscode from 'vscode';
import type { Job, ProviderId } from '../../core/jobs/schema';
import { isActive } from '../../core/jobs/schema';
import { elapsedSeconds, formatDuration, progressText, usd } from '../../core/format';
import { describeGpus, gpuUnavailableReason, isGpuIdle, summaryOf } from '../../core/gpu/samples';
import { isLocallyQueued } from '../../core/queue/schema';
import { jobWebUrl } from '../../core/finetune/web-url';

const PROVIDER_ICONS: Record<ProviderId, string> = { local: 'vm', replicate: 'cloud', ssh: 'remote', slurm: 'server-environment', together: 'sparkle', fireworks: 'flame' };
const PROVIDER_NAMES: Record<ProviderId, string> = { local: 'This machine', replicate: 'Replicate', ssh: 'SSH host', slurm: 'Slurm cluster', together: 'Together AI', fireworks: 'Fireworks' };
const STATUS_COLORS: Partial<Record<Job['status'], string>> = {
  running: 'charts.blue', starting: 'charts.blue', uploading: 'charts.blue', queued: 'charts.yellow',
  succeeded: 'testing.iconPassed', failed: 'testing.iconFailed', cancelled: 'disabledForeground',
};

export function providerIcon(job: Job): vscode.ThemeIcon {
  // A running job whose GPUs have idled for 10 minutes gets the warning mark instead of its provider icon.
  if (gpuIdle(job)) return new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
  const color = STATUS_COLORS[job.status];
  return new vscode.ThemeIcon(PROVIDER_ICONS[job.provider], color ? new vscode.ThemeColor(color) : undefined);
}

/** "running · 4m12s · 450/1000 45% loss 0.051 · $0.42" */
export function jobDescription(job: Job, now = Date.now()): string {
  const el = elapsedSeconds(job, now);
  const cost = job.cost?.actual ?? job.cost?.estimate?.expected;
  return [gpuIdle(job) ? `⚠ ${GPU_IDLE}` : '', job.statusDetail ?? job.status, el === undefined ? '' : formatDuration(el), progressText(job), cost ? usd(cost) : '']
    .filter(Boolean).join(' · ');
}

/** Space-separated flags matched by `viewItem =~ /…/` in package.json menus. */
export function jobContextValue(job: Job): string {
  const flags = ['job', `status-${job.status}`, `provider-${job.provider}`, isActive(job.status) ? 'active' : 'finished'];
  if (job.outputs.length) flags.push('hasOutputs');
  if (jobWebUrl(job)) flags.push('hasWebUrl');
  if (job.snapshotRef) flags.push('hasSnapshot');
  if (canDeliverResults(job)) flags.push('canDeliver');
  // Waiting in this machine's queue: Move to Top (Cancel is the active jobs' Cancel).
  if (isLocallyQueued(job)) flags.push('localQueued');
  return flags.join(' ');
}

/** Outputs of succeeded local/SSH/Slurm jobs are on this machine and can be pushed to HF/S3 (again). */
export function canDeliverResults(job: Job): boolean {
  return job.status === 'succeeded' && job.provider !== 'replicate';
}

export function jobTooltip(job: Job): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${escape(job.name)}**  \n`);
  md.appendMarkdown(`$(${PROVIDER_ICONS[job.provider]}) ${PROVIDER_NAMES[job.provider]}${job.hardware ? ` · ${escape(job.hardware)}` : ''}  \n`);
  md.appendMarkdown(`Status: **${job.status}**${job.providerStatus ? ` (${escape(job.providerStatus)})` : ''}${job.statusDetail ? ` — ${escape(job.statusDetail)}` : ''}  \n`);
  const p = progressText(job);
  if (p) md.appendMarkdown(`Progress: ${escape(p)}${job.progress.etaSeconds ? ` · ETA ${formatDuration(job.progress.etaSeconds)}` : ''}  \n`);
  md.appendMarkdown(`Created: ${new Date(job.createdAt).toLocaleString()}  \n`);
  if (job.startedAt) md.appendMarkdown(`Started: ${new Date(job.startedAt).toLocaleString()}  \n`);
  if (job.finishedAt) md.appendMarkdown(`Finished: ${new Date(job.finishedAt).toLocaleString()}  \n`);
  if (job.cost?.estimate) md.appendMarkdown(`Estimate: ${usd(job.cost.estimate.low)}–${usd(job.cost.estimate.high)}  \n`);
  if (job.cost?.actual !== undefined) md.appendMarkdown(`Cost: ${usd(job.cost.actual)}  \n`);
  if (job.configPaths.training) md.appendMarkdown(`Config: \`${job.configPaths.training}\`  \n`);
  const gpu = summaryOf(job.metadata);
  if (gpu && isActive(job.status)) {
    md.appendMarkdown(`GPU (${new Date(gpu.at).toLocaleTimeString()}): ${escape(describeGpus(gpu))}  \n`);
    if (gpuIdle(job)) md.appendMarkdown(`$(warning) ${escape(GPU_IDLE)} (under 10% since ${new Date(gpu.idleSince!).toLocaleTimeString()})  \n`);
  }
  const gpuUnavailable = gpuUnavailableReason(job.metadata);
  if (gpuUnavailable && isActive(job.status)) md.appendMarkdown(`GPU use: not sampled — ${escape(gpuUnavailable)}  \n`);
  if (job.error) md.appendMarkdown(`Error: ${escape(job.error)}  \n`);
  if (typeof job.metadata.deliveryError === 'string') md.appendMarkdown(`Delivery: ${escape(job.metadata.deliveryError)}  \n`);
  md.appendMarkdown(`ID: \`${job.id}\`${job.providerJobId ? ` · provider id \`${job.providerJobId}\`` : ''}`);
  return md;
}

export const GPU_IDLE = 'GPU idle — data loading bound?';
export const gpuIdle = (job: Job): boolean => job.status === 'running' && isGpuIdle(summaryOf(job.metadata));

const escape = (s: string): string => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
