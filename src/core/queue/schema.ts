import * as z from 'zod';
import type { Job, ProviderId } from '../jobs/schema';

/**
 * A job waiting in this machine's queue for a slot on its target (this machine, or one SSH host).
 *
 * It is recorded as status `queued` with no `providerJobId` and this record under
 * `metadata.localQueue`. (`queued` alone, with a provider id, still means "the provider accepted it
 * and queues it on its side": Slurm PENDING, Replicate starting.) Older versions read such a job as an
 * ordinary queued job that never reached a provider: they show it under Queued and can cancel it.
 */
export const LocalQueueSchema = z.object({
  /** `local`, or `ssh:<host>` (see queueTargetOf). */
  target: z.string(),
  /** Higher starts first; ties by `queuedAt`. */
  priority: z.number().default(0),
  queuedAt: z.string(),
  /** Start only once this job has succeeded; its failure or cancellation cancels this one. */
  after: z.string().optional(),
  /** `--capacity`: start while fewer than this many jobs run on the target (else the target's own capacity). */
  capacity: z.number().int().positive().optional(),
  /** What provider.submit needs to start it later (no secrets: keys are looked up when it starts). */
  request: z.object({
    command: z.string().optional(),
    cwd: z.string().optional(),
    hardware: z.string().optional(),
    trainingConfigPath: z.string().optional(),
    dataloaderConfigPath: z.string().optional(),
    options: z.record(z.string(), z.unknown()).optional(),
  }).default({}),
}).passthrough();
export type LocalQueue = z.infer<typeof LocalQueueSchema>;

/** `metadata.queueStart`: which process is starting a queued job. Held (renewed) until the start is recorded. */
export const QueueClaimSchema = z.object({ by: z.string(), at: z.string() });
export type QueueClaim = z.infer<typeof QueueClaimSchema>;

/** Targets with a queue here. Slurm and the cloud providers queue on their side: none here. */
export function queueTargetOf(provider: ProviderId | string, hardware: string | undefined): string | undefined {
  if (provider === 'local') return 'local';
  if (provider === 'ssh' && hardware) return `ssh:${hardware}`;
  return undefined;
}

export function localQueueOf(job: Job): LocalQueue | undefined {
  const r = LocalQueueSchema.safeParse(job.metadata.localQueue);
  return r.success ? r.data : undefined;
}

export function queueClaimOf(job: Job): QueueClaim | undefined {
  const r = QueueClaimSchema.safeParse(job.metadata.queueStart);
  return r.success ? r.data : undefined;
}

/** Waiting in this machine's queue: not handed to any provider yet. */
export function isLocallyQueued(job: Job): boolean {
  return job.status === 'queued' && !job.providerJobId && localQueueOf(job) !== undefined;
}

/** The job's target, for jobs that count against a target's capacity (local, SSH). */
export function targetOfJob(job: Job): string | undefined {
  return localQueueOf(job)?.target ?? queueTargetOf(job.provider, job.hardware);
}
