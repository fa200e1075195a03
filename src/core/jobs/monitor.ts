import type { JobHistory } from './history';
import { Job, MetricPoint, isActive, isTerminal } from './schema';
import { mergeOutputs } from './outputs';
import type { ProviderRegistry } from '../../providers/registry';
import type { ProviderContext, StatusUpdate } from '../../providers/types';
import { syncLogMirror, readLinesFrom } from '../logs/mirror';
import { parseProgressLine } from '../logs/progress';
import { appendMetrics } from '../logs/metrics';
import { finalCost } from '../cost/estimate';
import type { UserPricing } from '../cost/prices';

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
        if (isActive(job.status)) anyActive = true;
        const f = this.failures.get(job.id);
        if (f && f.nextAt > now) continue;
        await this.refresh(job);
      }
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

  /** Bring one job up to date. Errors are recorded on the job as "reconnecting", never thrown. */
  async refresh(job: Job): Promise<Job | undefined> {
    if (!this.providers.has(job.provider)) return job;
    const provider = this.providers.get(job.provider);
    const ctx: ProviderContext = { ...this.opts.context, dataHome: this.opts.dataHome, log: this.opts.log };
    try {
      let current = job;
      if (isActive(job.status) && job.providerJobId) {
        const update = await provider.status(job, ctx);
        current = (await this.history.update(job.id, (j) => applyStatus(j, update))) ?? current;
      }
      if (job.logPath) {
        await syncLogMirror(current, provider, ctx);
        current = (await this.parseNewLogLines(current)) ?? current;
      }
      if (isTerminal(current.status) && current.metadata.finalized !== true && !this.finalizing.has(job.id)) {
        this.finalizing.add(job.id);
        try {
          const extra = provider.finalize ? await provider.finalize(current, ctx) : {};
          const pricing = await this.opts.pricing?.();
          current = (await this.history.update(job.id, (j) => ({
            ...j,
            outputs: mergeOutputs(j.outputs, extra.outputs ?? []),
            // Providers that bill (Replicate) report their cost; for the rest: run time × price.
            cost: extra.cost ? { ...j.cost, ...extra.cost } : (finalCost(j, pricing) ?? j.cost),
            // A results delivery that failed says so here (the job itself still succeeded).
            statusDetail: 'statusDetail' in extra ? extra.statusDetail : j.statusDetail,
            metadata: { ...j.metadata, ...extra.metadata, finalized: true },
            progress: j.status === 'succeeded' ? { ...j.progress, percent: 100, step: j.progress.totalSteps ?? j.progress.step, etaSeconds: 0 } : j.progress,
          }))) ?? current;
        } finally {
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
      if (r.metric) points.push(r.metric);
    }
    let claimed = false;
    const updated = await this.history.update(job.id, (j) => {
      // Another window parsed this range already.
      if ((typeof j.metadata.progressOffset === 'number' ? j.metadata.progressOffset : 0) !== from) return undefined;
      claimed = true;
      return { ...j, progress: { ...j.progress, ...progress }, metadata: { ...j.metadata, progressOffset: next } };
    });
    if (claimed) await appendMetrics(job.logPath!, points);
    return updated;
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export function applyStatus(j: Job, u: StatusUpdate): Job {
  const now = new Date().toISOString();
  const startedAt = j.startedAt ?? u.startedAt ?? (u.status === 'running' ? now : undefined);
  return {
    ...j,
    status: u.status,
    providerStatus: u.providerStatus ?? j.providerStatus,
    statusDetail: u.statusDetail,
    progress: u.progress ? { ...j.progress, ...u.progress } : j.progress,
    error: u.error ?? j.error,
    outputs: u.outputs ? mergeOutputs(j.outputs, u.outputs) : j.outputs,
    cost: u.cost ? { currency: 'USD', ...j.cost, ...u.cost } : j.cost,
    startedAt,
    finishedAt: isTerminal(u.status) ? (j.finishedAt ?? u.finishedAt ?? now) : j.finishedAt,
    metadata: u.metadata ? { ...j.metadata, ...u.metadata } : j.metadata,
  };
}
