import type { Job } from '../jobs/schema';

/**
 * The provider's page for a managed fine-tune job. Together: the dashboard's fine-tuning job page;
 * Fireworks: the dashboard's supervised fine-tuning job page (the job id is the last segment of its
 * resource name). Patterns from the dashboards' URL shapes, not checked against the live sites.
 */
export function finetuneWebUrl(provider: 'together' | 'fireworks', providerJobId: string): string {
  const id = encodeURIComponent(providerJobId.split('/').pop() ?? providerJobId);
  return provider === 'together' ? `https://api.together.ai/fine-tuning/${id}` : `https://app.fireworks.ai/dashboard/fine-tuning/supervised/${id}`;
}

/** A job's page at its provider: what the provider recorded, else (fine-tunes, also those submitted from the CLI) the pattern above. */
export function jobWebUrl(job: Job): string | undefined {
  if (typeof job.metadata.webUrl === 'string') return job.metadata.webUrl;
  if ((job.provider === 'together' || job.provider === 'fireworks') && job.providerJobId) return finetuneWebUrl(job.provider, job.providerJobId);
  return undefined;
}
