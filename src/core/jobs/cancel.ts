import type { JobHistory } from './history';
import type { JobMonitor } from './monitor';
import { Job, isTerminal } from './schema';
import type { ProviderRegistry } from '../../providers/registry';

/**
 * Cancel a job: record the request first (so a provider that then loses the process reports
 * "cancelled", not "failed"), ask the provider, then refresh. A job the provider never accepted is
 * marked cancelled directly.
 */
export async function cancelJob(job: Job, history: JobHistory, providers: ProviderRegistry, monitor: JobMonitor, dataHome: string): Promise<Job | undefined> {
  if (isTerminal(job.status)) return job;
  const marked = await history.update(job.id, (j) => ({ ...j, cancelRequestedAt: new Date().toISOString() }));
  if (!job.providerJobId || !providers.has(job.provider)) {
    return history.update(job.id, (j) => ({ ...j, status: 'cancelled', statusDetail: 'Cancelled before it started' }));
  }
  const provider = providers.get(job.provider);
  await provider.cancel(marked ?? job, { dataHome });
  return monitor.refresh((await history.get(job.id)) ?? job);
}
