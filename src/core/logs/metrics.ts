import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MetricPoint, MetricPointSchema } from '../jobs/schema';

/**
 * Loss/learning-rate series live beside the log mirror (`<logsDir>/<jobId>.metrics.jsonl`), not in
 * the job history: a long run has thousands of points and the history must stay small to load fast.
 */
export const metricsPathFor = (logPath: string): string => logPath.replace(/\.log$/, '') + '.metrics.jsonl';

export async function appendMetrics(logPath: string, points: readonly MetricPoint[]): Promise<void> {
  if (!points.length) return;
  const file = metricsPathFor(logPath);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.appendFile(file, points.map((p) => JSON.stringify(p)).join('\n') + '\n');
}

/** All points, in step order; at most `max` (evenly thinned) so a chart stays cheap to draw. */
export async function readMetrics(logPath: string, max = 2000): Promise<MetricPoint[]> {
  let text: string;
  try {
    text = await fs.readFile(metricsPathFor(logPath), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const points: MetricPoint[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const r = MetricPointSchema.safeParse(JSON.parse(line));
      if (r.success) points.push(r.data);
    } catch { /* torn last line after a crash */ }
  }
  if (points.length <= max) return points;
  const stride = points.length / max;
  return Array.from({ length: max }, (_, i) => points[Math.floor(i * stride)]!);
}
