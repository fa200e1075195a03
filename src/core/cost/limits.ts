import * as z from 'zod';
import { ProviderIdSchema, type Job, type ProviderId } from '../jobs/schema';
import { round, type UserPricing } from './prices';
import { spendingTotals, type Period, type SpendTotals } from './spending';
import { usd } from '../format';

/** A limit in USD; null/absent = no limit. 0 is a real limit (nothing paid may start). */
const Amount = z.number().nonnegative().nullish().transform((v) => v ?? undefined);

/** Settings `cloudTraining.limits.daily`, `.monthly`, `.perProvider` ({provider: {daily, monthly}}). */
export const SpendingLimitsSchema = z.object({
  daily: Amount,
  monthly: Amount,
  perProvider: z.partialRecord(ProviderIdSchema, z.object({ daily: Amount, monthly: Amount })).nullish().transform((v) => v ?? {}),
});
export type SpendingLimits = z.infer<typeof SpendingLimitsSchema>;

export interface LimitViolation {
  scope: 'overall' | ProviderId;
  period: Period;
  limit: number;
  spent: number;
  estimate: number;
  /** spent + estimate */
  wouldBe: number;
}

export interface LimitCheck {
  ok: boolean;
  violations: LimitViolation[];
  totals: SpendTotals;
  /** Empty when ok; otherwise one line per passed limit with the figures. */
  message: string;
}

/** Thrown by the submit pipeline; the CLI turns it into exit code 3. */
export class SpendingLimitError extends Error {
  readonly code = 'SPENDING_LIMIT';
  constructor(readonly check: LimitCheck) {
    super(check.message);
    this.name = 'SpendingLimitError';
  }
}

/**
 * Would a job estimated at `estimate` USD on `provider` pass any limit? Reaching a limit exactly is
 * allowed; passing it by any amount blocks; a free job is never blocked. Jobs already committed (actual cost, or the estimate of
 * jobs still running) count against it.
 */
export function checkSpendingLimits(limits: SpendingLimits, jobs: readonly Job[], provider: ProviderId, estimate: number, now: Date = new Date(), pricing?: UserPricing): LimitCheck {
  const totals = spendingTotals(jobs, now, pricing);
  const violations: LimitViolation[] = [];
  const consider = (scope: LimitViolation['scope'], period: Period, limit: number | undefined, spent: number) => {
    // A free job (local, unpriced host) adds nothing, so it never passes a limit, even one already passed.
    if (limit === undefined || estimate <= 0) return;
    const wouldBe = round(spent + estimate, 4);
    // Tiny epsilon so float noise at exactly the limit never blocks.
    if (wouldBe > limit + 1e-9) violations.push({ scope, period, limit, spent, estimate: round(estimate, 4), wouldBe });
  };
  consider('overall', 'day', limits.daily, totals.day);
  consider('overall', 'month', limits.monthly, totals.month);
  const own = limits.perProvider[provider];
  const spentHere = totals.byProvider[provider] ?? { day: 0, month: 0 };
  consider(provider, 'day', own?.daily, spentHere.day);
  consider(provider, 'month', own?.monthly, spentHere.month);
  return { ok: violations.length === 0, violations, totals, message: violations.map(describeViolation).join('\n') };
}

/**
 * How much a job on `provider` may still cost before it passes a limit: the smallest headroom of the
 * limits that apply (never below 0); undefined when no limit applies. For a price learned only after
 * the upload (Together's estimate-price), checked by the provider before it creates the job.
 */
export function limitHeadroom(limits: SpendingLimits, jobs: readonly Job[], provider: ProviderId, now: Date = new Date(), pricing?: UserPricing): number | undefined {
  const totals = spendingTotals(jobs, now, pricing);
  const own = limits.perProvider[provider];
  const spentHere = totals.byProvider[provider] ?? { day: 0, month: 0 };
  const room = [
    [limits.daily, totals.day], [limits.monthly, totals.month], [own?.daily, spentHere.day], [own?.monthly, spentHere.month],
  ].filter((x): x is [number, number] => x[0] !== undefined).map(([limit, spent]) => Math.max(0, round(limit - spent, 4)));
  return room.length ? Math.min(...room) : undefined;
}

/**
 * Thrown by a provider whose own price for the job (known only once its files are uploaded) is above
 * `SubmitRequest.maxCostUsd`, or who could not give one while limits apply; the submit pipelines turn
 * it into a SpendingLimitError with the limits' figures. The provider has deleted what it uploaded.
 */
export class PriceAboveLimitError extends Error {
  readonly code = 'PRICE_ABOVE_LIMIT';
  /** `estimateUsd` undefined: the provider could not price the job (`reason` says why). */
  constructor(readonly estimateUsd: number | undefined, readonly source: string, readonly reason?: string) {
    super(estimateUsd === undefined
      ? `${source} could not price this job (${reason ?? 'no estimate'}), and spending limits apply: nothing was started. Try again, or remove the limits.`
      : `${source} estimates $${estimateUsd.toFixed(2)} for this job, more than your spending limits leave.`);
    this.name = 'PriceAboveLimitError';
  }
}

/** The pipelines' answer to PriceAboveLimitError: the limits' own figures with the provider's price. */
export function limitErrorForProviderPrice(e: PriceAboveLimitError, limits: SpendingLimits, jobs: readonly Job[], provider: ProviderId, now?: Date, pricing?: UserPricing): Error {
  if (e.estimateUsd === undefined) return e;
  const check = checkSpendingLimits(limits, jobs, provider, e.estimateUsd, now, pricing);
  if (check.ok) return e;
  return new SpendingLimitError({ ...check, message: `${e.source} estimates ${usd(e.estimateUsd)} for this job (asked after the upload; the uploaded files were deleted).\n${check.message}` });
}

export function describeViolation(v: LimitViolation): string {
  const which = `${v.scope === 'overall' ? 'overall' : `${v.scope}`} ${v.period === 'day' ? 'daily' : 'monthly'} limit`;
  const setting = v.scope === 'overall'
    ? `cloudTraining.limits.${v.period === 'day' ? 'daily' : 'monthly'}`
    : `cloudTraining.limits.perProvider.${v.scope}.${v.period === 'day' ? 'daily' : 'monthly'}`;
  return `Blocked by the ${which} of ${usd(v.limit)}: spent ${usd(v.spent)} ${v.period === 'day' ? 'today' : 'this month'} + this job's estimate ${usd(v.estimate)} = ${usd(v.wouldBe)} (raise ${setting} to allow it).`;
}

export { usd };
