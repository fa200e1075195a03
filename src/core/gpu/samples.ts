import { promises as fs } from 'node:fs';
import path from 'node:path';
import { metricsPathFor } from '../logs/metrics';

/**
 * GPU use of a running job, sampled with nvidia-smi's query mode on the machine that runs it. Samples
 * go into the job's metrics sidecar (`<job>.metrics.jsonl`) as `{"t":…,"gpus":[…]}` lines beside the
 * loss points (which readMetrics() skips), and the latest figures onto the job (`metadata.gpu`) for
 * the tree, kept small: the history must stay quick to load.
 */
export const GPU_SAMPLE_COMMAND = 'nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total,power.draw --format=csv,noheader,nounits';

export { GpuReadingSchema, GpuSampleSchema, GpuSummarySchema, IDLE_UTIL_PERCENT, IDLE_WARN_MS, isGpuIdle, type GpuReading, type GpuSample, type GpuSummary } from './schema';
import { GpuReadingSchema, GpuSampleSchema, GpuSummarySchema, IDLE_UTIL_PERCENT, type GpuReading, type GpuSample, type GpuSummary } from './schema';

/** Parse the CSV of GPU_SAMPLE_COMMAND; undefined when it is not that (no nvidia-smi, a driver error). */
export function parseGpuSample(stdout: string, t = Date.now()): GpuSample | undefined {
  const num = (s: string | undefined) => { const n = Number(s?.trim()); return s !== undefined && s.trim() !== '' && Number.isFinite(n) ? n : undefined; };
  const gpus: GpuReading[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const [index, util, used, total, power] = line.split(',');
    const watts = num(power); // "[N/A]" on GPUs that do not report it
    const r = GpuReadingSchema.safeParse({ index: num(index), util: num(util), memUsed: num(used), memTotal: num(total), ...(watts !== undefined ? { power: watts } : {}) });
    if (!r.success) return undefined;
    gpus.push(r.data);
  }
  return gpus.length ? { t, gpus } : undefined;
}

/** The job's summary after `sample`: `idleSince` starts with the first all-idle sample and ends with a busy one. */
export function nextSummary(prev: GpuSummary | undefined, sample: GpuSample): GpuSummary {
  // Samples are stamped with their claim's time; a slow reading that returns after a newer one is
  // still charted, but must not replace the newer figures.
  if (prev && Date.parse(prev.at) > sample.t) return prev;
  const idle = sample.gpus.every((g) => g.util < IDLE_UTIL_PERCENT);
  const at = new Date(sample.t).toISOString();
  return { at, gpus: sample.gpus, idleSince: idle ? (prev?.idleSince ?? at) : undefined };
}

/**
 * Thrown by a provider's `sampleGpus` when GPU use cannot be sampled for this job at all (a cluster
 * whose srun refuses `--overlap`, a node without nvidia-smi): the monitor records the reason on the
 * job (`metadata.gpuUnavailable`), shows it, and stops asking. A passing failure is a plain Error.
 */
export class GpuSamplingUnavailable extends Error {
  override readonly name = 'GpuSamplingUnavailable';
}

/** Why this job's GPU use is not sampled, when a provider said it cannot be. */
export function gpuUnavailableReason(metadata: Record<string, unknown>): string | undefined {
  return typeof metadata.gpuUnavailable === 'string' ? metadata.gpuUnavailable : undefined;
}

export function summaryOf(metadata: Record<string, unknown>): GpuSummary | undefined {
  const r = GpuSummarySchema.safeParse(metadata.gpu);
  return r.success ? r.data : undefined;
}

export function describeGpus(s: GpuSummary): string {
  return s.gpus.map((g) => `GPU ${g.index}: ${g.util}% · ${(g.memUsed / 1024).toFixed(1)}/${(g.memTotal / 1024).toFixed(1)} GiB${g.power !== undefined ? ` · ${Math.round(g.power)} W` : ''}`).join('; ');
}

export async function appendGpuSample(logPath: string, sample: GpuSample): Promise<void> {
  const file = metricsPathFor(logPath);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.appendFile(file, `${JSON.stringify(sample)}\n`);
}

/** GPU samples in time order, at most `max` (evenly thinned). */
export async function readGpuSamples(logPath: string, max = 2000): Promise<GpuSample[]> {
  let text: string;
  try { text = await fs.readFile(metricsPathFor(logPath), 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: GpuSample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"t"')) continue;
    try { const r = GpuSampleSchema.safeParse(JSON.parse(line)); if (r.success) out.push(r.data); } catch { /* torn last line */ }
  }
  if (out.length <= max) return out;
  const stride = out.length / max;
  return Array.from({ length: max }, (_, i) => out[Math.floor(i * stride)]!);
}
