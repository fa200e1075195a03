import { newJob } from '../../core/jobs/factory';
import type { JobHistory } from '../../core/jobs/history';
import { JobSchema, type Job } from '../../core/jobs/schema';
import type { DataLayout } from '../../core/paths';
import type { RemoteJobSummary } from '../../core/providers/types';

/** Remote jobs not yet in the history (matched by provider job id). */
export async function importCandidates(history: JobHistory, remote: readonly RemoteJobSummary[]): Promise<RemoteJobSummary[]> {
  const known = new Set((await history.list()).filter((j) => j.provider === 'replicate').map((j) => j.providerJobId));
  return remote.filter((r) => !known.has(r.providerJobId));
}

/**
 * Add predictions/trainings started elsewhere to the history so the tree, logs and cost work for them.
 * The provider finds out on first poll whether each is a prediction or a training.
 */
export async function importRemoteJobs(history: JobHistory, layout: DataLayout, picked: readonly RemoteJobSummary[]): Promise<Job[]> {
  const fresh = await importCandidates(history, picked);
  const added: Job[] = [];
  for (const r of fresh) {
    const base = newJob(layout, { provider: 'replicate', name: r.name ?? r.providerJobId, hardware: r.hardware });
    const job = JobSchema.parse({
      ...base,
      status: r.status,
      providerJobId: r.providerJobId,
      createdAt: r.createdAt,
      metadata: { imported: true, ...(r.hardware ? { replicateHardware: r.hardware } : {}) },
    });
    added.push(await history.add(job));
  }
  return added;
}
