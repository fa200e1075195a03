import * as z from 'zod';
import type { Job } from '../jobs/schema';

/** `metadata.providerEstimate`: a provider's own price for the job, asked once its files were uploaded (Together's estimate-price). */
export const ProviderPriceSchema = z.object({
  usd: z.number().nonnegative(),
  source: z.string(),
  trainTokens: z.number().nonnegative().optional(),
  evalTokens: z.number().nonnegative().optional(),
});
export type ProviderPrice = z.infer<typeof ProviderPriceSchema>;

/**
 * The job with the provider's own price as its estimate, when the provider gave one: a job whose
 * price our table did not know then counts against the spending limits while it runs, like any other.
 */
export function withProviderEstimate(job: Job, metadata: Record<string, unknown> | undefined): Job {
  const r = ProviderPriceSchema.safeParse(metadata?.providerEstimate);
  if (!r.success) return job;
  const p = r.data;
  const tokens = p.trainTokens !== undefined ? ` for ${p.trainTokens.toLocaleString('en-US')} training${p.evalTokens ? ` + ${p.evalTokens.toLocaleString('en-US')} evaluation` : ''} tokens` : '';
  return {
    ...job,
    cost: {
      currency: 'USD', ...job.cost,
      estimate: { low: p.usd, expected: p.usd, high: p.usd, basis: `${p.source}${tokens}` },
    },
  };
}
