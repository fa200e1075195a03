import type { Job } from '../core/jobs/schema';

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

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

export function formatCost(usd: number | undefined): string {
  if (usd === undefined) return '';
  return usd < 0.01 && usd > 0 ? '<$0.01' : `$${usd.toFixed(2)}`;
}

/** One line per job for `cloudtrain jobs`. */
export function jobsTable(jobs: Job[], now = Date.now()): string {
  const rows = [['ID', 'STATUS', 'PROVIDER', 'ELAPSED', 'PROGRESS', 'COST', 'NAME']];
  for (const j of jobs) {
    const el = elapsedSeconds(j, now);
    rows.push([j.id, j.status, j.provider + (j.hardware && j.hardware !== j.provider ? `/${j.hardware}` : ''), el === undefined ? '' : formatDuration(el), progressText(j), formatCost(j.cost?.actual), j.name]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') + '\n';
}
