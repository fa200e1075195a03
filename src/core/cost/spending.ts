import { isActive, isTerminal, type Job, type ProviderId } from '../jobs/schema';
import { actualCost } from './estimate';
import { round, type UserPricing } from './prices';

export type Period = 'day' | 'month';

export interface SpendTotals {
  day: number;
  month: number;
  byProvider: Partial<Record<ProviderId, { day: number; month: number }>>;
}

/**
 * What a job counts for against a budget: its actual cost once known; while it is still active and has
 * no actual figure yet, its estimate (money already committed, so two quick submissions cannot both
 * slip under a limit); a finished job whose provider reported no cost (ssh/slurm, priced by the user)
 * counts its run time × price.
 */
export function committedSpend(job: Job, pricing?: UserPricing): number {
  if (job.cost?.actual !== undefined) return job.cost.actual;
  if (isActive(job.status)) return job.cost?.estimate?.expected ?? 0;
  if (isTerminal(job.status) && job.startedAt) return actualCost(job, pricing)?.actual ?? 0;
  return 0;
}

/** Start of the current day / month in the user's local time zone. */
export function periodStart(period: Period, now: Date): Date {
  return period === 'day'
    ? new Date(now.getFullYear(), now.getMonth(), now.getDate())
    : new Date(now.getFullYear(), now.getMonth(), 1);
}

/** Spend today and this calendar month (local time), overall and per provider; a job counts on the day it was created. */
export function spendingTotals(jobs: readonly Job[], now: Date = new Date(), pricing?: UserPricing): SpendTotals {
  const dayStart = periodStart('day', now).getTime();
  const monthStart = periodStart('month', now).getTime();
  const totals: SpendTotals = { day: 0, month: 0, byProvider: {} };
  for (const job of jobs) {
    const amount = committedSpend(job, pricing);
    if (!amount) continue;
    const at = Date.parse(job.createdAt);
    if (!(at >= monthStart)) continue;
    const p = (totals.byProvider[job.provider] ??= { day: 0, month: 0 });
    totals.month += amount;
    p.month += amount;
    if (at >= dayStart) {
      totals.day += amount;
      p.day += amount;
    }
  }
  totals.day = round(totals.day, 4);
  totals.month = round(totals.month, 4);
  for (const p of Object.values(totals.byProvider)) {
    p.day = round(p.day, 4);
    p.month = round(p.month, 4);
  }
  return totals;
}
