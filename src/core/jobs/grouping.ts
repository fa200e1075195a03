import type { Job, JobStatus } from './schema';
import { compareQueued } from '../queue/queue';
import { isLocallyQueued } from '../queue/schema';

const newestFirst = (x: Job, y: Job): number => (x.createdAt < y.createdAt ? 1 : x.createdAt > y.createdAt ? -1 : 0);
const queuedFirst = (x: Job, y: Job): number => {
  const qx = isLocallyQueued(x), qy = isLocallyQueued(y);
  if (qx && qy) return compareQueued(x, y);
  if (qx !== qy) return qx ? -1 : 1;
  return newestFirst(x, y);
};

/** The tree's groups, in display order. */
export const JOB_GROUPS = [
  { id: 'running', label: 'Running', statuses: ['running', 'starting', 'uploading'] },
  { id: 'queued', label: 'Queued', statuses: ['queued'] },
  { id: 'succeeded', label: 'Finished', statuses: ['succeeded'] },
  { id: 'failed', label: 'Failed', statuses: ['failed'] },
  { id: 'cancelled', label: 'Cancelled', statuses: ['cancelled'] },
] as const satisfies readonly { id: string; label: string; statuses: readonly JobStatus[] }[];

export type JobGroupId = (typeof JOB_GROUPS)[number]['id'];

const GROUP_OF = new Map<JobStatus, JobGroupId>(JOB_GROUPS.flatMap((g) => g.statuses.map((s) => [s, g.id] as const)));

export interface GroupedJobs { id: JobGroupId; label: string; jobs: Job[] }

/**
 * Groups jobs by status, newest first within each group, skipping empty groups. One pass plus a sort
 * per group: O(n log n), cheap enough for 10,000 jobs on every refresh (see benchmarks/history-load).
 */
export function groupJobs(jobs: readonly Job[]): GroupedJobs[] {
  const buckets = new Map<JobGroupId, Job[]>();
  for (const j of jobs) {
    const g = GROUP_OF.get(j.status)!;
    let b = buckets.get(g);
    if (!b) buckets.set(g, (b = []));
    b.push(j);
  }
  const out: GroupedJobs[] = [];
  for (const g of JOB_GROUPS) {
    const b = buckets.get(g.id);
    if (!b?.length) continue;
    // Queued: jobs waiting in this machine's queue first, in the order they will start; then the rest, newest first.
    if (g.id === 'queued') b.sort(queuedFirst);
    else b.sort(newestFirst);
    out.push({ id: g.id, label: g.label, jobs: b });
  }
  return out;
}
