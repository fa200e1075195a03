import { queuePosition, targetLabel } from '../core/queue/queue';
import { isLocallyQueued, localQueueOf } from '../core/queue/schema';
import { describeGpus, isGpuIdle, summaryOf } from '../core/gpu/samples';
import type { Job } from '../core/jobs/schema';
import { elapsedSeconds, formatDuration, progressText, usd } from '../core/format';

/** One line per job for `cloudtrain jobs`. */
export function jobsTable(jobs: Job[], now = Date.now()): string {
  const rows = [['ID', 'STATUS', 'PROVIDER', 'ELAPSED', 'PROGRESS', 'COST', 'NAME']];
  for (const j of jobs) {
    const el = elapsedSeconds(j, now);
    const pos = queuePosition(j, jobs);
    rows.push([j.id, pos !== undefined ? `queued #${pos}` : j.status, j.provider + (j.hardware && j.hardware !== j.provider ? `/${j.hardware}` : ''), el === undefined ? '' : formatDuration(el), progressText(j), j.cost?.actual !== undefined ? usd(j.cost.actual) : '', j.name]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') + '\n';
}

/** `cloudtrain jobs <id>`: one job, a field per line (what the editor's details view shows). */
export function jobDetails(j: Job, now = Date.now()): string {
  const lines: Array<[string, string | undefined]> = [];
  const el = elapsedSeconds(j, now);
  const meta = j.metadata;
  lines.push(
    ['Job', `${j.id}  ${j.name}`],
    ['Status', `${j.status}${j.providerStatus && j.providerStatus.toLowerCase() !== j.status ? ` (${j.providerStatus})` : ''}${j.statusDetail ? `: ${j.statusDetail}` : ''}`],
    ['Provider', `${j.provider}${j.hardware ? ` · ${j.hardware}` : ''}${j.providerJobId ? ` · id ${j.providerJobId}` : ''}`],
    ['Created', j.createdAt],
    ['Started', j.startedAt],
    ['Finished', j.finishedAt],
    ['Elapsed', el === undefined ? undefined : formatDuration(el)],
    ['Progress', progressText(j) || undefined],
    ['GPU', gpuText(j)],
    ['Estimate', j.cost?.estimate ? `${usd(j.cost.estimate.expected)} (${usd(j.cost.estimate.low)}–${usd(j.cost.estimate.high)})` : undefined],
    ['Cost', j.cost?.actual !== undefined ? `${usd(j.cost.actual)}${j.cost.pricePerHour !== undefined ? ` at ${usd(j.cost.pricePerHour)}/h` : ''}` : undefined],
    ['Error', j.error],
    ['Queue', queueText(j)],
    ['Workspace', j.workspace],
    ['Training config', j.configPaths.training],
    ['Dataloader', j.configPaths.dataloader],
    ['Snapshot', j.snapshotRef],
    ['Log', j.logPath],
    ['Results', typeof meta.deliveryError === 'string' ? `delivery failed: ${meta.deliveryError} (retry: cloudtrain deliver ${j.id})` : typeof meta.deliveredAt === 'string' ? `delivered ${meta.deliveredAt}` : undefined],
  );
  for (const o of j.outputs) lines.push(['Output', `${o.kind} ${o.uri}${o.label ? ` (${o.label})` : ''}`]);
  const shown = lines.filter((l): l is [string, string] => l[1] !== undefined && l[1] !== '');
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n') + '\n';
}

/** Latest nvidia-smi figures of a running SSH/local job, with the idle warning. */
function gpuText(j: Job): string | undefined {
  const g = summaryOf(j.metadata);
  if (!g || j.status !== 'running') return undefined;
  return `${describeGpus(g)} (${g.at})${isGpuIdle(g) ? ' — GPU idle for 10+ min: data loading bound?' : ''}`;
}

/** A job waiting in this machine's queue: its target, priority and predecessor. */
function queueText(j: Job): string | undefined {
  const q = localQueueOf(j);
  if (!q || !isLocallyQueued(j)) return undefined;
  return `waiting for ${targetLabel(q.target)}, priority ${q.priority}${q.after ? `, after ${q.after} succeeds` : ''}${q.capacity ? `, capacity ${q.capacity}` : ''}`;
}
