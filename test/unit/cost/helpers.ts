import { JobSchema, type Job } from '../../../src/core/jobs/schema';

let n = 0;
/** A valid job record with the given fields (history-shaped, as the estimate and totals read them). */
export function job(fields: Partial<Job> & Pick<Job, 'provider'>): Job {
  const at = fields.createdAt ?? new Date().toISOString();
  return JobSchema.parse({ id: `j${++n}`, name: `job ${n}`, status: 'succeeded', createdAt: at, updatedAt: at, ...fields });
}
