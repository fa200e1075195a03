import * as z from 'zod';
import type { Job } from '../jobs/schema';

/**
 * Job events that notify. They are recorded on the job (`metadata.events: {<event>: <iso>}`) by the
 * process that finalises it, inside the same history write that marks it finalised, so an event
 * exists exactly once whichever window or CLI process finalised. Showing and sending then claim it
 * separately (see notifier.ts).
 */
export const JobEventKindSchema = z.enum(['succeeded', 'failed', 'cancelled', 'delivery-failed']);
export type JobEventKind = z.infer<typeof JobEventKindSchema>;

export const NotificationLevelSchema = z.enum(['all', 'failures', 'none']);
export type NotificationLevel = z.infer<typeof NotificationLevelSchema>;

/** `failures`: what needs the user's attention (a failed run or a failed results delivery). */
export function passesLevel(kind: JobEventKind, level: NotificationLevel): boolean {
  if (level === 'none') return false;
  if (level === 'failures') return kind === 'failed' || kind === 'delivery-failed';
  return true;
}

/** The events a job that is being marked finalised gives rise to (pure; used by the monitor). */
export function eventsAtFinalize(job: Job, at = new Date().toISOString()): Record<string, string> {
  const out: Record<string, string> = {};
  if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled') out[job.status] = at;
  if (typeof job.metadata.deliveryError === 'string') out['delivery-failed'] = at;
  return out;
}

export interface JobEvent { kind: JobEventKind; at: string }

/** Recorded events of a job, oldest first; unknown keys (a newer version's events) are skipped. */
export function recordedEvents(job: Job): JobEvent[] {
  const raw = job.metadata.events;
  if (!raw || typeof raw !== 'object') return [];
  const out: JobEvent[] = [];
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const kind = JobEventKindSchema.safeParse(k);
    if (kind.success && typeof v === 'string') out.push({ kind: kind.data, at: v });
  }
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

/** One line for a person: "LoRA run failed on ssh: CUDA out of memory". */
export function eventTitle(job: { name: string; provider: string }, kind: JobEventKind): string {
  const what = kind === 'delivery-failed' ? 'finished, but delivering its results failed' : kind;
  return `Job "${job.name}" ${what} (${job.provider})`;
}
