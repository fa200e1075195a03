import type { JobHistory } from './history';
import type { JobMonitor } from './monitor';
import { Job, isTerminal } from './schema';
import type { ProviderRegistry } from '../providers/registry';
import { cancelQueued } from '../queue/queue';
import { isLocallyQueued } from '../queue/schema';

/**
 * Cancel a job: record the request first (so a provider that then loses the process reports
 * "cancelled", not "failed"), ask the provider, then refresh. A job the provider never accepted is
 * marked cancelled directly.
 */
export async function cancelJob(job: Job, history: JobHistory, providers: ProviderRegistry, monitor: JobMonitor, dataHome: string, opts: CancelWait = {}): Promise<Job | undefined> {
  if (isTerminal(job.status)) return job;
  // Waiting in this machine's queue: it leaves the queue; the machine is never contacted.
  if (isLocallyQueued(job)) return (await cancelQueued(history, job.id)) ?? job;
  const marked = await history.update(job.id, (j) => ({ ...j, cancelRequestedAt: new Date().toISOString() }));
  if (!job.providerJobId || !providers.has(job.provider)) {
    return history.update(job.id, (j) => ({ ...j, status: 'cancelled', statusDetail: 'Cancelled before it started' }));
  }
  const provider = providers.get(job.provider);
  await provider.cancel(marked ?? job, { dataHome });
  // Stopping is asynchronous on most providers (scancel, SIGTERM then a grace before SIGKILL, a remote
  // API): a caller that reports the outcome (the CLI) may wait, bounded, for the job to reach its end.
  const until = Date.now() + (opts.waitMs ?? 0);
  let after = await monitor.refresh((await history.get(job.id)) ?? job);
  while (after && !isTerminal(after.status) && Date.now() < until && !opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    after = await monitor.refresh((await history.get(job.id)) ?? after);
  }
  return after;
}

export interface CancelWait {
  /** How long to wait for the job to reach a terminal state after the request (default 0: one refresh). */
  waitMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
}
