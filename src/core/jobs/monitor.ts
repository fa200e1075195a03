import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { JobHistory } from './history';
import { Job, MetricPoint, isActive, isTerminal } from './schema';
import { mergeOutputs } from './outputs';
import type { ProviderRegistry } from '../providers/registry';
import type { ProviderContext, StatusUpdate, TrainingProvider } from '../providers/types';
import { syncLogMirror, readLinesFrom } from '../logs/mirror';
import { parseProgressLine } from '../logs/progress';
import { appendMetrics } from '../logs/metrics';
import { finalCost } from '../cost/estimate';
import type { UserPricing } from '../cost/prices';
import { eventsAtFinalize } from '../notify/events';
import { isLocallyQueued } from '../queue/schema';
import { appendGpuSample, GpuSamplingUnavailable, gpuUnavailableReason, nextSummary, parseGpuSample, summaryOf } from '../gpu/samples';

export interface MonitorOptions {
  dataHome: string;
  /** Base poll interval while something is active. */
  intervalMs?: number;
  /** Longest back-off after repeated errors for one job. */
  maxBackoffMs?: number;
  log?: (line: string) => void;
  /** Extra context for providers (prompter etc.). */
  context?: Partial<ProviderContext>;
  /** The user's own prices (ssh/slurm per GPU-hour), for the actual cost of providers that report none. */
  pricing?: () => UserPricing | undefined | Promise<UserPricing | undefined>;
  /**
   * How long a finalisation claim holds without renewal before another process may take over
   * (default 2 min; renewed every third of it while the work runs, so only a process that died or
   * was closed mid-download leaves one to lapse).
   */
  finalizeLeaseMs?: number;
  /** Told after this monitor finalised a job (its events are recorded then): shows/sends them. */
  notifier?: { scan(): Promise<void> | void };
  /** How often a running job's GPUs are sampled (providers with `sampleGpus`: SSH, local, Slurm); 0 = never. Default 30 s. */
  gpuSampleIntervalMs?: number;
  /** This machine's queue (src/core/queue/): each pass starts waiting jobs whose slot freed. */
  queue?: { tick(): Promise<unknown> };
}

/**
 * `metadata.finalizing`: which process is finalising a job (downloading outputs, pushing results).
 * Two VS Code windows and the CLI share one history; without the claim each would download and
 * push the same outputs. It is renewed while the work runs, so a crashed process's claim lapses.
 */
interface FinalizeClaim { by: string; at: string }

const FINALIZE_LEASE_MS = 120_000;

function claimOf(job: Job): FinalizeClaim | undefined {
  const c = job.metadata.finalizing as Partial<FinalizeClaim> | undefined;
  return c && typeof c.by === 'string' && typeof c.at === 'string' ? { by: c.by, at: c.at } : undefined;
}

/**
 * Keeps active jobs up to date: status from the provider, log bytes into the local mirror, progress
 * parsed from new log lines, and finalisation (outputs, cleanup) once a job ends. It runs a timer only
 * while at least one job is active and stops by itself when all are terminal; `poke()` restarts it.
 */
export class JobMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private disposed = false;
  private readonly failures = new Map<string, { count: number; nextAt: number }>();
  /** Jobs being finalised (downloads, results delivery) by this monitor: never twice at once. */
  private readonly finalizing = new Set<string>();
  /** Finalisations running in the background of tick(), so a large download does not hold up polling. */
  private readonly background = new Map<string, Promise<unknown>>();
  /** This monitor's name in finalisation claims. */
  private readonly owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly stopFinalizing = new AbortController();

  constructor(private readonly history: JobHistory, private readonly providers: ProviderRegistry, private readonly opts: MonitorOptions) {}

  get active(): boolean {
    return this.timer !== undefined || this.running;
  }

  /** Check now, and keep polling while anything is active. */
  poke(): void {
    if (this.disposed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.tick();
  }

  /** One pass over every active job. Resolves when done; schedules the next pass if needed. */
  async tick(): Promise<void> {
    if (this.running || this.disposed) return;
    this.running = true;
    let anyActive = false;
    try {
      const jobs = await this.history.list();
      const now = Date.now();
      for (const job of jobs) {
        const needsFinalize = isTerminal(job.status) && job.metadata.finalized !== true && this.providers.has(job.provider);
        if (!isActive(job.status) && !needsFinalize) continue;
        if (isLocallyQueued(job)) { anyActive = true; continue; } // nothing at a provider yet: the queue starts it
        // An ended job not yet finalised keeps the timer too: a failed download is retried (with back-off).
        anyActive = true;
        const f = this.failures.get(job.id);
        if (f && f.nextAt > now) continue;
        // Downloads and pushes can take minutes: they run beside the polling of the other jobs.
        const current = needsFinalize ? job : await this.refresh(job, { deferFinalize: true });
        if (current && isTerminal(current.status) && current.metadata.finalized !== true && !this.background.has(job.id)) {
          const p = this.refresh(current).finally(() => this.background.delete(job.id));
          this.background.set(job.id, p);
        }
      }
      // After the pass: a job that just ended frees its slot for the next waiting one.
      if (this.opts.queue && anyActive) await this.runQueue();
    } catch (e) {
      this.opts.log?.(`Job monitor: ${(e as Error).message}`);
      anyActive = true;
    } finally {
      this.running = false;
      if (anyActive && !this.disposed) {
        this.timer = setTimeout(() => { this.timer = undefined; void this.tick(); }, this.opts.intervalMs ?? 2000);
      }
    }
  }

  /** One pass of this machine's queue (if any); errors are logged, never thrown. */
  async runQueue(): Promise<void> {
    try {
      await this.opts.queue?.tick();
    } catch (e) {
      this.opts.log?.(`Job queue: ${(e as Error).message}`);
    }
  }

  /**
   * Bring one job up to date, finalising it once it has ended (unless `deferFinalize`). Errors are
   * recorded on the job as "reconnecting", never thrown.
   */
  async refresh(job: Job, opts: { deferFinalize?: boolean } = {}): Promise<Job | undefined> {
    if (!this.providers.has(job.provider) || isLocallyQueued(job)) return job;
    const provider = this.providers.get(job.provider);
    const ctx: ProviderContext = { ...this.opts.context, dataHome: this.opts.dataHome, log: this.opts.log };
    try {
      let current = job;
      if (isActive(job.status) && job.providerJobId) {
        const update = await provider.status(job, ctx);
        // Another window or the CLI may have recorded the job's end while this look was under way: a
        // look taken before that end leaves the job as recorded (history keeps the status; not even
        // the error or detail of a stale look may land on it).
        current = (await this.history.update(job.id, (j) => (isTerminal(j.status) ? undefined : applyStatus(j, update)))) ?? current;
      }
      // A job that left this machine's queue without starting has no log anywhere.
      const neverStarted = !current.providerJobId && current.metadata.localQueue !== undefined;
      if (job.logPath && !neverStarted) {
        await syncLogMirror(current, provider, ctx);
        current = (await this.parseNewLogLines(current)) ?? current;
        if (current.status === 'running' && provider.sampleGpus) current = (await this.sampleGpus(current, provider, ctx)) ?? current;
      }
      if (isTerminal(current.status) && current.metadata.finalized !== true && !this.finalizing.has(job.id) && !opts.deferFinalize) {
        this.finalizing.add(job.id);
        let renew: NodeJS.Timeout | undefined;
        try {
          const claimed = await this.claimFinalize(job.id);
          if (!claimed) return current; // another window or the CLI is on it
          current = claimed;
          const lease = this.opts.finalizeLeaseMs ?? FINALIZE_LEASE_MS;
          renew = setInterval(() => void this.claimFinalize(job.id).catch(() => undefined), Math.max(1000, lease / 3));
          const extra = provider.finalize ? await provider.finalize(current, { ...ctx, signal: this.stopFinalizing.signal }) : {};
          const pricing = await this.opts.pricing?.();
          current = (await this.history.update(job.id, (j) => withEvents({
            ...j,
            outputs: mergeOutputs(j.outputs, extra.outputs ?? []),
            // Providers that bill (Replicate) report their cost; for the rest: run time × price.
            cost: extra.cost ? { ...j.cost, ...extra.cost } : (finalCost(j, pricing) ?? j.cost),
            // A results delivery that failed says so here (the job itself still succeeded).
            statusDetail: 'statusDetail' in extra ? extra.statusDetail : j.statusDetail,
            metadata: withoutClaim({ ...j.metadata, ...extra.metadata, finalized: true }),
            progress: settledProgress(j),
          }))) ?? current;
          void this.opts.notifier?.scan();
        } catch (e) {
          // Let the next attempt (here or in another process) start at once.
          await this.history.update(job.id, (j) => (claimOf(j)?.by === this.owner ? { ...j, metadata: withoutClaim(j.metadata) } : undefined)).catch(() => undefined);
          throw e;
        } finally {
          clearInterval(renew);
          this.finalizing.delete(job.id);
        }
      }
      this.failures.delete(job.id);
      return current;
    } catch (e) {
      const prev = this.failures.get(job.id)?.count ?? 0;
      const backoff = Math.min((this.opts.intervalMs ?? 2000) * 2 ** prev, this.opts.maxBackoffMs ?? 60_000);
      this.failures.set(job.id, { count: prev + 1, nextAt: Date.now() + backoff });
      const message = (e as Error).message;
      this.opts.log?.(`Job ${job.id}: ${message} (retrying in ${Math.round(backoff / 1000)} s)`);
      return this.history.update(job.id, (j) => (isActive(j.status) ? { ...j, statusDetail: `Reconnecting: ${message}` } : undefined));
    }
  }

  /** Fold log lines past the last parsed offset into progress/metrics. */
  private async parseNewLogLines(job: Job): Promise<Job | undefined> {
    const from = typeof job.metadata.progressOffset === 'number' ? job.metadata.progressOffset : 0;
    const { lines, next } = await readLinesFrom(job.logPath!, from);
    if (next === from) return job;
    let progress = job.progress;
    const points: MetricPoint[] = [];
    for (const line of lines) {
      const r = parseProgressLine(line, progress);
      if (!r) continue;
      progress = r.progress;
      // The time the monitor read the line: the loss and GPU charts share a time axis.
      if (r.metric) points.push({ ...r.metric, t: Date.now() });
    }
    let claimed = false;
    const updated = await this.history.update(job.id, (j) => {
      // Another window parsed this range already.
      if ((typeof j.metadata.progressOffset === 'number' ? j.metadata.progressOffset : 0) !== from) return undefined;
      claimed = true;
      return { ...j, progress: settledProgress({ ...j, progress: { ...j.progress, ...progress } }), metadata: { ...j.metadata, progressOffset: next } };
    });
    if (claimed) await appendMetrics(job.logPath!, points);
    return updated;
  }

  /**
   * One GPU sample when due. `metadata.gpuSampleAt` is advanced under the history lock before
   * sampling, so of several windows polling the same job only one samples each interval. A failed
   * sample (no nvidia-smi, a dropped connection) is skipped: it never makes the job "reconnecting".
   */
  private async sampleGpus(job: Job, provider: Pick<TrainingProvider, "sampleGpus">, ctx: ProviderContext): Promise<Job | undefined> {
    const every = this.opts.gpuSampleIntervalMs ?? 30_000;
    if (every <= 0 || !job.logPath || gpuUnavailableReason(job.metadata) !== undefined) return job;
    const last = typeof job.metadata.gpuSampleAt === 'string' ? job.metadata.gpuSampleAt : undefined;
    if (last && Date.now() - Date.parse(last) < every) return job;
    let claimed = false;
    const at = Date.now();
    await this.history.update(job.id, (j) => {
      if (j.metadata.gpuSampleAt !== job.metadata.gpuSampleAt) return undefined;
      claimed = true;
      return { ...j, metadata: { ...j.metadata, gpuSampleAt: new Date(at).toISOString() } };
    });
    if (!claimed) return job;
    let sample;
    try {
      // Stamped with the claim's time: samples sit exactly one interval apart on the chart.
      sample = parseGpuSample((await provider.sampleGpus!(job, ctx)) ?? '', at);
    } catch (e) {
      if (e instanceof GpuSamplingUnavailable) {
        this.opts.log?.(`Job ${job.id}: GPU use is not sampled: ${e.message}`);
        return this.history.update(job.id, (j) => ({ ...j, metadata: { ...j.metadata, gpuUnavailable: e.message } }));
      }
      this.opts.log?.(`Job ${job.id}: GPU sample failed: ${(e as Error).message}`);
      return job;
    }
    if (!sample) return job;
    await appendGpuSample(job.logPath, sample);
    return this.history.update(job.id, (j) => ({ ...j, metadata: { ...j.metadata, gpu: nextSummary(summaryOf(j.metadata), sample) } }));
  }

  /**
   * Take (or renew) the finalisation claim on a job; undefined when it is already finalised or
   * another process holds a claim that has not lapsed.
   */
  private async claimFinalize(id: string): Promise<Job | undefined> {
    const lease = this.opts.finalizeLeaseMs ?? FINALIZE_LEASE_MS;
    let claimed = false;
    const job = await this.history.update(id, (j) => {
      if (j.metadata.finalized === true) return undefined;
      const c = claimOf(j);
      if (c && c.by !== this.owner && Date.now() - Date.parse(c.at) < lease) return undefined;
      claimed = true;
      return { ...j, metadata: { ...j.metadata, finalizing: { by: this.owner, at: new Date().toISOString() } } };
    });
    return claimed ? job : undefined;
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopFinalizing.abort(new Error('The job monitor stopped'));
  }
}

/**
 * The job's notification events, recorded in the write that marks it finalised: only the process
 * holding the finalisation claim makes that write, so each event is recorded exactly once.
 */
function withEvents(j: Job): Job {
  const events = { ...eventsAtFinalize(j), ...(j.metadata.events as Record<string, string> | undefined) };
  return { ...j, metadata: { ...j.metadata, events } };
}

function withoutClaim(metadata: Record<string, unknown>): Record<string, unknown> {
  const { finalizing: _claim, ...rest } = metadata;
  return rest;
}

/**
 * A succeeded job's progress is complete (every step, 100 %), from the moment its end is recorded: the
 * trainer's last progress line may precede its final step, and the log is read after the status.
 */
function settledProgress(j: Job): Job['progress'] {
  return j.status === 'succeeded' ? { ...j.progress, percent: 100, step: j.progress.totalSteps ?? j.progress.step, etaSeconds: 0 } : j.progress;
}

export function applyStatus(j: Job, u: StatusUpdate): Job {
  const now = new Date().toISOString();
  const startedAt = j.startedAt ?? u.startedAt ?? (u.status === 'running' ? now : undefined);
  return {
    ...j,
    status: u.status,
    providerStatus: u.providerStatus ?? j.providerStatus,
    statusDetail: u.statusDetail,
    progress: settledProgress({ ...j, status: u.status, progress: u.progress ? { ...j.progress, ...u.progress } : j.progress }),
    error: u.error ?? j.error,
    outputs: u.outputs ? mergeOutputs(j.outputs, u.outputs) : j.outputs,
    cost: u.cost ? { currency: 'USD', ...j.cost, ...u.cost } : j.cost,
    startedAt,
    finishedAt: isTerminal(u.status) ? (j.finishedAt ?? u.finishedAt ?? now) : j.finishedAt,
    metadata: u.metadata ? { ...j.metadata, ...u.metadata } : j.metadata,
  };
}
