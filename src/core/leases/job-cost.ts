import type { JobHistory } from '../jobs/history';
import type { Lease } from './schema';

/**
 * Record a finished lease's actual cost (launch → gone) on every job that ran on the machine, as
 * `metadata.lease`, so a job shows what its machine really cost (a machine kept between jobs is
 * shared: each job gets the whole lease, with the job ids that shared it).
 */
export function recordLeaseCostOnJobs(history: JobHistory): (lease: Lease) => Promise<void> {
  return async (lease) => {
    for (const jobId of lease.jobIds) {
      const share = lease.cost && lease.jobIds.length ? Math.round(lease.cost.actual / lease.jobIds.length * 10_000) / 10_000 : undefined;
      await history.update(jobId, (j) => ({
        ...j,
        // What the spending limits count: this job's share of the machine (launch → gone).
        ...(share !== undefined ? { cost: { ...(j.cost ?? { currency: 'USD' as const }), pricePerHour: lease.cost!.pricePerHour ?? j.cost?.pricePerHour, actual: share, billedSeconds: lease.cost!.seconds } } : {}),
        metadata: {
          ...j.metadata,
          lease: { id: lease.id, provider: lease.provider, instanceId: lease.instanceId, state: lease.state, cost: lease.cost, sharedWith: lease.jobIds.filter((x) => x !== jobId) },
        },
      }));
    }
  };
}
