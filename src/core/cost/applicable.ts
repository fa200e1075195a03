import type { ProviderId } from '../jobs/schema';
import type { SpendingLimits } from './limits';
import type { SpendTotals } from './spending';

export interface ApplicableLimit { label: string; limit: number; spent: number }

const NAMES: Record<ProviderId, string> = { local: 'This machine', replicate: 'Replicate', ssh: 'SSH hosts', slurm: 'Slurm', together: 'Together AI', fireworks: 'Fireworks' };

/** The limits that apply to a submission to `provider`, with what is spent against each (for the cost view). */
export function applicableLimits(limits: SpendingLimits, totals: SpendTotals, provider: ProviderId): ApplicableLimit[] {
  const out: ApplicableLimit[] = [];
  if (limits.daily !== undefined) out.push({ label: 'Daily (all providers)', limit: limits.daily, spent: totals.day });
  if (limits.monthly !== undefined) out.push({ label: 'Monthly (all providers)', limit: limits.monthly, spent: totals.month });
  const own = limits.perProvider[provider];
  const spent = totals.byProvider[provider] ?? { day: 0, month: 0 };
  if (own?.daily !== undefined) out.push({ label: `${NAMES[provider]} daily`, limit: own.daily, spent: spent.day });
  if (own?.monthly !== undefined) out.push({ label: `${NAMES[provider]} monthly`, limit: own.monthly, spent: spent.month });
  return out;
}
