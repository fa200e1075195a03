import * as z from 'zod';
import { isTerminal, type Job, type ProviderId } from '../jobs/schema';
import { normaliseHardware, priceFor, round, type HardwarePrice, type SecondsPerStepRange, type UserPricing } from './prices';

/** Assumed when the config gives neither max_train_steps nor anything we can turn into steps (the seed's "typical LoRA"). */
export const DEFAULT_STEPS = 2000;
/** Only recent jobs say how fast this user's trainings run now (the seed used 90 days too). */
const HISTORY_WINDOW_DAYS = 90;
/** The most recent samples used; older ones describe older configs. */
const MAX_SAMPLES = 20;
/** A job that died after a handful of steps says little about speed. */
const MIN_STEPS_FOR_SAMPLE = 5;

const RangeSchema = z.object({ low: z.number(), expected: z.number(), high: z.number() });

export const CostEstimateSchema = z.object({
  provider: z.string(),
  hardware: z.string(),
  hardwareLabel: z.string(),
  gpus: z.number(),
  pricePerHour: z.number(),
  priceCheckedAt: z.string(),
  priceSource: z.string(),
  steps: z.number(),
  stepsSource: z.enum(['argument', 'config', 'default']),
  secondsPerStep: RangeSchema,
  durationSeconds: RangeSchema,
  cost: RangeSchema,
  basis: z.enum(['history', 'default']),
  samples: z.number().int(),
  /** One sentence a person can read: where the numbers come from. */
  basisText: z.string(),
});
export type CostEstimate = z.infer<typeof CostEstimateSchema>;

export interface EstimateInput {
  provider: ProviderId;
  hardware?: string;
  /** From --steps / the picker; wins over the config. */
  steps?: number;
  /** max_train_steps from the training config, if any. */
  configSteps?: number;
  /** This user's job history (any order). */
  history?: readonly Job[];
  pricing?: UserPricing;
  now?: Date;
}

/**
 * steps × seconds/step × price, with a low–high range. Seconds/step are learned from this user's
 * finished jobs on the same provider+hardware when there are any (median, range spanning what was
 * observed), else the table's documented default per hardware with its deliberately wide range.
 */
export function estimateCost(input: EstimateInput): CostEstimate {
  const price = priceFor(input.provider, input.hardware, input.pricing);
  const { steps, stepsSource } = pickSteps(input);
  const samples = secondsPerStepSamples(input.history ?? [], input.provider, price.hardware, input.now ?? new Date());
  const sps = samples.length ? rangeFromSamples(samples) : price.defaultSecondsPerStep;
  const durationSeconds = mapRange(sps, (s) => s * steps);
  const cost = mapRange(durationSeconds, (d) => round(d * price.pricePerSecond, 4));
  return {
    provider: input.provider,
    hardware: price.hardware,
    hardwareLabel: price.label,
    gpus: price.gpus,
    pricePerHour: price.pricePerHour,
    priceCheckedAt: price.checkedAt,
    priceSource: price.source,
    steps,
    stepsSource,
    secondsPerStep: mapRange(sps, (s) => round(s, 3)),
    durationSeconds: mapRange(durationSeconds, (d) => Math.round(d)),
    cost,
    basis: samples.length ? 'history' : 'default',
    samples: samples.length,
    basisText: basisText(price, samples.length, steps, stepsSource),
  };
}

function pickSteps(input: EstimateInput): { steps: number; stepsSource: CostEstimate['stepsSource'] } {
  if (input.steps !== undefined && input.steps > 0) return { steps: Math.round(input.steps), stepsSource: 'argument' };
  if (input.configSteps !== undefined && input.configSteps > 0) return { steps: Math.round(input.configSteps), stepsSource: 'config' };
  return { steps: DEFAULT_STEPS, stepsSource: 'default' };
}

/** Seconds per step of this user's finished jobs on the same provider+hardware, newest first. */
export function secondsPerStepSamples(history: readonly Job[], provider: ProviderId, hardware: string, now: Date): number[] {
  const since = now.getTime() - HISTORY_WINDOW_DAYS * 86_400_000;
  const hw = normaliseHardware(hardware);
  const out: { at: number; sps: number }[] = [];
  for (const job of history) {
    if (job.provider !== provider || !isTerminal(job.status)) continue;
    if (normaliseHardware(job.hardware ?? (provider === 'local' ? 'local' : '')) !== hw) continue;
    const at = Date.parse(job.finishedAt ?? job.updatedAt);
    if (!(at >= since)) continue;
    const sps = measuredSecondsPerStep(job);
    if (sps !== undefined) out.push({ at, sps });
  }
  return out.sort((a, b) => b.at - a.at).slice(0, MAX_SAMPLES).map((s) => s.sps);
}

/** The parser's own seconds/step when the log had it, else wall time / steps done for a job that succeeded. */
export function measuredSecondsPerStep(job: Job): number | undefined {
  const p = job.progress;
  if (p.secondsPerStep !== undefined && p.secondsPerStep > 0 && (p.step ?? MIN_STEPS_FOR_SAMPLE) >= MIN_STEPS_FOR_SAMPLE) return p.secondsPerStep;
  if (job.status !== 'succeeded' || !job.startedAt || !job.finishedAt) return undefined;
  const steps = p.step ?? p.totalSteps;
  if (!steps || steps < MIN_STEPS_FOR_SAMPLE) return undefined;
  const seconds = job.cost?.billedSeconds ?? (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;
  return seconds > 0 ? seconds / steps : undefined;
}

/** Median as the expectation; the range covers every sample and never narrower than 0.8×–1.5× of few samples (as the seed did). */
export function rangeFromSamples(samples: readonly number[]): SecondsPerStepRange {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const few = sorted.length < 3;
  return {
    low: Math.min(sorted[0]!, median * (few ? 0.8 : 0.9)),
    expected: median,
    high: Math.max(sorted[sorted.length - 1]!, median * (few ? 1.5 : 1.2)),
  };
}

function mapRange(r: SecondsPerStepRange, f: (n: number) => number): SecondsPerStepRange {
  return { low: f(r.low), expected: f(r.expected), high: f(r.high) };
}

/** "replicate l40s", but just "local" where the hardware is the provider. */
export const whereText = (provider: string, hardware: string): string => (hardware === provider ? provider : `${provider} ${hardware}`);

function basisText(price: HardwarePrice, samples: number, steps: number, stepsSource: CostEstimate['stepsSource']): string {
  const stepsPart = stepsSource === 'default'
    ? `${steps} steps assumed (the config sets no max_train_steps)`
    : `${steps} steps from ${stepsSource === 'config' ? 'the config' : 'your input'}`;
  const speedPart = samples
    ? `seconds/step learned from your ${samples} finished job${samples === 1 ? '' : 's'} on ${whereText(price.provider, price.hardware)}`
    : `no finished jobs of yours on ${whereText(price.provider, price.hardware)} yet, so a default seconds/step with a wide range`;
  return `${stepsPart}; ${speedPart}; price $${price.pricePerHour.toFixed(2)}/h checked ${price.checkedAt}.`;
}

/**
 * What a finished job cost: the provider's own figure when it reported one, else billed (or wall)
 * seconds × the price of the hardware it ran on.
 */
export function actualCost(job: Job, pricing?: UserPricing): { actual: number; billedSeconds: number; pricePerHour: number } | undefined {
  if (!job.startedAt && job.cost?.billedSeconds === undefined) return undefined;
  let price: HardwarePrice;
  try {
    price = priceFor(job.provider, job.hardware, pricing);
  } catch {
    return undefined;
  }
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  const seconds = job.cost?.billedSeconds ?? Math.max(0, (end - Date.parse(job.startedAt!)) / 1000);
  return { actual: job.cost?.actual ?? round(seconds * price.pricePerSecond, 4), billedSeconds: Math.round(seconds), pricePerHour: price.pricePerHour };
}

/**
 * The cost fields to store on a job that just ended and whose provider did not report a cost
 * (local, ssh, slurm): for the job monitor's finalisation. Undefined when nothing needs adding.
 */
export function finalCost(job: Job, pricing?: UserPricing): Job['cost'] | undefined {
  if (!isTerminal(job.status) || job.cost?.actual !== undefined) return undefined;
  const a = actualCost(job, pricing);
  if (!a) return undefined;
  return { currency: 'USD', ...job.cost, actual: a.actual, billedSeconds: a.billedSeconds, pricePerHour: job.cost?.pricePerHour ?? a.pricePerHour };
}
