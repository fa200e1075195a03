import type { Job } from '../core/jobs/schema';
import { formatDuration, usd } from '../core/format';

export function elapsedSeconds(job: Job, now = Date.now()): number | undefined {
  if (!job.startedAt) return undefined;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : now;
  return (end - Date.parse(job.startedAt)) / 1000;
}

export function progressText(job: Job): string {
  const p = job.progress;
  const parts: string[] = [];
  if (p.step !== undefined && p.totalSteps) parts.push(`${p.step}/${p.totalSteps}`);
  if (p.percent !== undefined) parts.push(`${Math.round(p.percent)}%`);
  if (p.loss !== undefined) parts.push(`loss ${p.loss.toPrecision(3)}`);
  return parts.join(' ');
}

/** One line per job for `cloudtrain jobs`. */
export function jobsTable(jobs: Job[], now = Date.now()): string {
  const rows = [['ID', 'STATUS', 'PROVIDER', 'ELAPSED', 'PROGRESS', 'COST', 'NAME']];
  for (const j of jobs) {
    const el = elapsedSeconds(j, now);
    rows.push([j.id, j.status, j.provider + (j.hardware && j.hardware !== j.provider ? `/${j.hardware}` : ''), el === undefined ? '' : formatDuration(el), progressText(j), j.cost?.actual !== undefined ? usd(j.cost.actual) : '', j.name]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') + '\n';
}
