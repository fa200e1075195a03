/**
 * How sizes, durations and money read everywhere: CLI, tree, CodeLens and webviews (this module is
 * plain TS with no Node imports, so the webview bundles use it too).
 */
import type { Job } from './jobs/schema';

/** 1.5 KB, 12 MB, 3.4 GB */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** 42s, 4m12s, 1h05m */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

/** $3.50 */
export const usd = (n: number): string => `$${n.toFixed(2)}`;

/** Seconds a job has run (to its end, or to `now` while it runs); undefined before it started. */
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
