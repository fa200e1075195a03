import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { JobHistory } from '../jobs/history';
import { isActive, isTerminal, type Job, type ProviderId } from '../jobs/schema';
import { eventsAtFinalize } from '../notify/events';
import type { ProviderRegistry } from '../providers/registry';
import type { ProviderContext, SubmitRequest } from '../providers/types';
import { isLocallyQueued, localQueueOf, queueClaimOf, targetOfJob, type LocalQueue } from './schema';
import { capacityResolver, configuredCapacity, type CapacitySettings } from './capacity';

/** What a submission asks of the queue (`--priority`, `--after`, `--capacity`). */
export interface QueueRequest { priority?: number; after?: string; capacity?: number }

/** How long a start claim holds without renewal (renewed every third of it while the start runs). */
export const QUEUE_CLAIM_LEASE_MS = 120_000;

/** Queue order: priority (higher first), then submission time, then id (stable). */
export function compareQueued(a: Job, b: Job): number {
  const qa = localQueueOf(a), qb = localQueueOf(b);
  const pa = qa?.priority ?? 0, pb = qb?.priority ?? 0;
  if (pa !== pb) return pb - pa;
  const ta = qa?.queuedAt ?? a.createdAt, tb = qb?.queuedAt ?? b.createdAt;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The jobs waiting for `target` (every target when absent), in the order they will start. */
export function queueOrder(jobs: readonly Job[], target?: string): Job[] {
  return jobs.filter((j) => isLocallyQueued(j) && (target === undefined || localQueueOf(j)!.target === target)).sort(compareQueued);
}

/** 1-based place of a waiting job in its target's queue; undefined for any other job. */
export function queuePosition(job: Job, jobs: readonly Job[]): number | undefined {
  const q = localQueueOf(job);
  if (!q || !isLocallyQueued(job)) return undefined;
  const i = queueOrder(jobs, q.target).findIndex((j) => j.id === job.id);
  return i < 0 ? undefined : i + 1;
}

/** Jobs holding a slot of `target`: active and handed to the machine, or being started from the queue right now. */
export function occupancy(jobs: readonly Job[], target: string, now = Date.now(), leaseMs = QUEUE_CLAIM_LEASE_MS): number {
  let n = 0;
  for (const j of jobs) {
    if (!isActive(j.status) || targetOfJob(j) !== target) continue;
    if (!isLocallyQueued(j)) n++;
    else if (claimHeld(j, now, leaseMs)) n++;
  }
  return n;
}

function claimHeld(j: Job, now: number, leaseMs: number): boolean {
  const c = queueClaimOf(j);
  return c !== undefined && now - Date.parse(c.at) < leaseMs;
}

/**
 * Whether a new submission must wait (decided under the history lock, with its insert): the target is
 * full, others already wait for it (first come, first served), or it waits for a predecessor.
 */
export function mustWait(current: readonly Job[], target: string, capacity: number, after?: string): boolean {
  if (after !== undefined && current.find((j) => j.id === after)?.status !== 'succeeded') return true;
  if (current.some((j) => isLocallyQueued(j) && localQueueOf(j)!.target === target)) return true;
  return occupancy(current, target) >= capacity;
}

/** The job as recorded when it waits: status `queued`, no provider id, `metadata.localQueue`. */
export function asQueued(job: Job, target: string, request: SubmitRequest, q: QueueRequest | undefined, now = new Date()): Job {
  const localQueue: LocalQueue = {
    target,
    priority: q?.priority ?? 0,
    queuedAt: now.toISOString(),
    ...(q?.after ? { after: q.after } : {}),
    ...(q?.capacity ? { capacity: q.capacity } : {}),
    request: {
      command: request.command, cwd: request.cwd, hardware: request.hardware,
      trainingConfigPath: request.trainingConfigPath, dataloaderConfigPath: request.dataloaderConfigPath, options: request.options,
    },
  };
  return {
    ...job,
    status: 'queued',
    statusDetail: q?.after ? `Waiting for ${q.after} to succeed` : `Waiting for a free slot on ${targetLabel(target)}`,
    metadata: { ...job.metadata, localQueue: JSON.parse(JSON.stringify(localQueue)) },
  };
}

export function targetLabel(target: string): string {
  return target === 'local' ? 'this machine' : target.startsWith('ssh:') ? target.slice(4) : target;
}

export interface JobQueueOptions {
  dataHome: string;
  /** The target's capacity (jobs at once): settings override, the machine's GPU count, else 1. */
  capacity(target: string, provider: ProviderId, hardware: string | undefined): Promise<number>;
  log?: (line: string) => void;
  context?: Partial<ProviderContext>;
  /** Start-claim lease (default 2 min). */
  leaseMs?: number;
  /** Aborts starts under way (the window closes): a job whose start did not reach the machine goes back to waiting. */
  signal?: AbortSignal;
}

/**
 * This machine's queue: jobs waiting for a slot on a target (this machine, an SSH host), started by
 * whichever window or CLI process runs `tick()` first after a slot frees, exactly once.
 *
 * A start is claimed in the history under its cross-process lock (`metadata.queueStart`, renewed while
 * the start runs), in the same write that checks the target's occupancy, and a claimed job counts as
 * occupying: two processes can neither start the same job nor together start more jobs than fit.
 * A claim that lapses (its process died mid-start) is never re-run, since the job may have reached the machine:
 * the job is marked failed with a message saying so.
 */
export class JobQueue {
  private readonly owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private running: Promise<Job[]> | undefined;

  constructor(private readonly history: JobHistory, private readonly providers: ProviderRegistry, private readonly opts: JobQueueOptions) {}

  /** One pass: settle jobs whose predecessor ended, then start what fits. Resolves to the jobs it started. */
  tick(): Promise<Job[]> {
    // One pass at a time in this process (the monitor and a command may both call it).
    this.running ??= this.pass().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async pass(): Promise<Job[]> {
    const jobs = await this.history.list();
    const waiting = queueOrder(jobs);
    if (!waiting.length) return [];
    await this.settle(waiting);
    const now = await this.history.list();
    const targets = new Map<string, Job>();
    for (const j of queueOrder(now)) if (!targets.has(localQueueOf(j)!.target)) targets.set(localQueueOf(j)!.target, j);
    const started: Job[] = [];
    for (const [target, head] of targets) {
      let capacity: number;
      try {
        capacity = await this.opts.capacity(target, head.provider, head.hardware);
      } catch (e) {
        this.opts.log?.(`Queue for ${targetLabel(target)}: capacity unknown (${(e as Error).message}); trying again later`);
        continue;
      }
      // Full as far as the last read shows: no need to take the lock (every window polls every few seconds).
      const most = Math.max(...queueOrder(now, target).map((j) => localQueueOf(j)!.capacity ?? capacity));
      if (occupancy(now, target, Date.now(), this.opts.leaseMs ?? QUEUE_CLAIM_LEASE_MS) >= most) continue;
      const claimed = await this.claim(target, capacity);
      // Several slots may free at once: the claimed jobs start side by side.
      const results = await Promise.all(claimed.map((j) => this.start(j)));
      for (const r of results) if (r) started.push(r);
    }
    return started;
  }

  /** Jobs whose predecessor ended badly or vanished are cancelled; lapsed start claims are failed. */
  private async settle(waiting: readonly Job[]): Promise<void> {
    const lease = this.opts.leaseMs ?? QUEUE_CLAIM_LEASE_MS;
    const touch = waiting.some((j) => localQueueOf(j)!.after !== undefined || (queueClaimOf(j) && !claimHeld(j, Date.now(), lease)));
    if (!touch) return;
    await this.history.transact((current) => {
      let changed = false;
      const byId = new Map(current.map((j) => [j.id, j]));
      const next = current.map((j) => {
        if (!isLocallyQueued(j)) return j;
        const c = queueClaimOf(j);
        if (c) {
          if (claimHeld(j, Date.now(), lease)) return j;
          changed = true;
          return ended(j, 'failed', `The process starting this job (${c.by}) stopped before it recorded the start; the job may have started on ${targetLabel(localQueueOf(j)!.target)}: check there, then resubmit`);
        }
        const after = localQueueOf(j)!.after;
        if (after === undefined) return j;
        const pred = byId.get(after);
        if (pred && !isTerminal(pred.status)) return j;
        if (pred?.status === 'succeeded') {
          if (j.statusDetail?.startsWith('Waiting for ')) { changed = true; return { ...j, statusDetail: `Waiting for a free slot on ${targetLabel(localQueueOf(j)!.target)}` }; }
          return j;
        }
        changed = true;
        return ended(j, 'cancelled', pred ? `predecessor ${after} failed${pred.status === 'cancelled' ? ' (cancelled)' : ''}` : `predecessor ${after} is no longer in the job history`);
      });
      return changed ? next : undefined;
    });
  }

  /** Claim, under the lock, as many of the target's waiting jobs (in order) as fit. */
  private async claim(target: string, capacity: number): Promise<Job[]> {
    const out: Job[] = [];
    const lease = this.opts.leaseMs ?? QUEUE_CLAIM_LEASE_MS;
    await this.history.transact((current) => {
      let busy = occupancy(current, target, Date.now(), lease);
      const claimIds = new Set<string>();
      for (const j of queueOrder(current, target)) {
        if (queueClaimOf(j)) continue; // someone is starting it (or its lapse is settled next pass)
        const q = localQueueOf(j)!;
        if (q.after !== undefined && current.find((p) => p.id === q.after)?.status !== 'succeeded') continue; // not its turn yet
        if (j.cancelRequestedAt) continue;
        if (busy >= (q.capacity ?? capacity)) break; // strict order: later jobs do not overtake the head
        claimIds.add(j.id);
        busy++;
      }
      if (!claimIds.size) return undefined;
      const at = new Date().toISOString();
      return current.map((j) => {
        if (!claimIds.has(j.id)) return j;
        const claimed = { ...j, statusDetail: `Starting on ${targetLabel(target)}…`, metadata: { ...j.metadata, queueStart: { by: this.owner, at } } };
        out.push(claimed);
        return claimed;
      });
    });
    return out;
  }

  /** Start one claimed job: provider.submit with the request recorded at submission, then record the start. */
  private async start(job: Job): Promise<Job | undefined> {
    const q = localQueueOf(job)!;
    const lease = this.opts.leaseMs ?? QUEUE_CLAIM_LEASE_MS;
    const renew = setInterval(() => {
      void this.history.update(job.id, (j) => (queueClaimOf(j)?.by === this.owner ? { ...j, metadata: { ...j.metadata, queueStart: { by: this.owner, at: new Date().toISOString() } } } : undefined)).catch(() => undefined);
    }, Math.max(500, lease / 3));
    try {
      const provider = this.providers.get(job.provider);
      const request: SubmitRequest = { ...q.request, hardware: q.request.hardware ?? job.hardware };
      let result;
      try {
        result = await provider.submit(job, request, { ...this.opts.context, dataHome: this.opts.dataHome, log: this.opts.log, signal: this.opts.signal });
      } catch (e) {
        if (this.opts.signal?.aborted) {
          // Closed before the job reached the machine: it waits again, for the next window or CLI.
          await this.history.update(job.id, (j) => (queueClaimOf(j)?.by === this.owner ? { ...j, statusDetail: `Waiting for a free slot on ${targetLabel(q.target)}`, metadata: withoutClaim(j.metadata) } : undefined));
          return undefined;
        }
        const message = (e as Error).message;
        this.opts.log?.(`Job ${job.id}: could not start from the queue: ${message}`);
        await this.history.update(job.id, (j) => (isTerminal(j.status) ? undefined : ended(j, 'failed', `Could not start: ${message}`)));
        return undefined;
      }
      const recorded = await this.history.update(job.id, (j) => ({
        ...j,
        // A cancel that landed during the start keeps the job cancelled (history never revives it).
        status: result.status,
        statusDetail: undefined,
        providerJobId: result.providerJobId,
        providerStatus: result.providerStatus,
        startedAt: result.startedAt ?? j.startedAt,
        metadata: withoutClaim({ ...j.metadata, ...result.metadata, startedFromQueueAt: new Date().toISOString() }),
      }));
      this.opts.log?.(`Job ${job.id}: started from the queue on ${targetLabel(q.target)}`);
      if (recorded && (recorded.cancelRequestedAt || isTerminal(recorded.status))) {
        // Cancelled while it was being started: stop what just started.
        await provider.cancel(recorded, { ...this.opts.context, dataHome: this.opts.dataHome, log: this.opts.log }).catch((e: Error) => this.opts.log?.(`Job ${job.id}: cancel after start failed: ${e.message}`));
      }
      return recorded;
    } finally {
      clearInterval(renew);
    }
  }

  /**
   * Cancel a waiting job without touching the machine. A job being started right now gets the
   * request instead; the process starting it stops it as soon as the start is recorded.
   */
  cancel(id: string): Promise<Job | undefined> {
    return cancelQueued(this.history, id);
  }

  /** Put a waiting job first in its target's queue: priority above every other waiting job's. */
  async moveToTop(id: string): Promise<Job | undefined> {
    let out: Job | undefined;
    await this.history.transact((current) => {
      const job = current.find((j) => j.id === id);
      if (!job || !isLocallyQueued(job)) return undefined;
      const q = localQueueOf(job)!;
      const others = queueOrder(current, q.target).filter((j) => j.id !== id);
      const top = Math.max(q.priority, ...others.map((j) => localQueueOf(j)!.priority + 1));
      if (top === q.priority && others.every((o) => compareQueued(job, o) < 0)) { out = job; return undefined; }
      out = { ...job, updatedAt: new Date().toISOString(), metadata: { ...job.metadata, localQueue: { ...(job.metadata.localQueue as object), priority: top } } };
      return current.map((j) => (j.id === id ? out! : j));
    });
    return out;
  }
}

/**
 * Cancel a job waiting in this machine's queue without touching the machine. One being started right
 * now gets the request instead; the process starting it stops it once the start is recorded.
 */
export function cancelQueued(history: JobHistory, id: string): Promise<Job | undefined> {
  return history.update(id, (j) => {
    if (!isLocallyQueued(j)) return undefined;
    const at = new Date().toISOString();
    if (queueClaimOf(j)) return { ...j, cancelRequestedAt: j.cancelRequestedAt ?? at };
    return { ...ended(j, 'cancelled', 'Cancelled while queued (never started)'), cancelRequestedAt: j.cancelRequestedAt ?? at };
  });
}

/** A waiting job that ends without starting: finalised in the same write (nothing to collect), its event recorded once. */
function ended(j: Job, status: 'failed' | 'cancelled', reason: string): Job {
  const now = new Date().toISOString();
  const next: Job = { ...j, status, statusDetail: reason, error: reason, finishedAt: now, updatedAt: now, metadata: withoutClaim(j.metadata) };
  next.metadata = { ...next.metadata, finalized: true, events: { ...eventsAtFinalize(next, now), ...(j.metadata.events as Record<string, string> | undefined) } };
  return next;
}

function withoutClaim(metadata: Record<string, unknown>): Record<string, unknown> {
  const { queueStart: _claim, ...rest } = metadata;
  return rest;
}

/** The queue every process builds the same way: capacities from the settings, else the machines' GPU counts. */
export function createJobQueue(history: JobHistory, providers: ProviderRegistry, o: {
  dataHome: string; settings: () => CapacitySettings | Promise<CapacitySettings>; log?: (line: string) => void;
  context?: Partial<ProviderContext>; signal?: AbortSignal; leaseMs?: number;
}): JobQueue {
  const capacity = capacityResolver(providers, {
    configured: async (target) => configuredCapacity(await o.settings(), target),
    context: { ...o.context, dataHome: o.dataHome }, log: o.log,
  });
  return new JobQueue(history, providers, { dataHome: o.dataHome, capacity, log: o.log, context: o.context, signal: o.signal, leaseMs: o.leaseMs });
}
