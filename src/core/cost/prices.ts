import * as z from 'zod';
import type { ProviderId } from '../jobs/schema';
import rawPrices from './prices.json';

const RangeSchema = z.object({ low: z.number().nonnegative(), expected: z.number().nonnegative(), high: z.number().nonnegative() })
  .refine((r) => r.low <= r.expected && r.expected <= r.high, 'low <= expected <= high');
export type SecondsPerStepRange = z.infer<typeof RangeSchema>;

const HardwarePriceSchema = z.object({
  label: z.string(),
  pricePerSecond: z.number().nonnegative(),
  gpus: z.number().int().positive(),
  defaultSecondsPerStep: RangeSchema,
});

const ProviderPricesSchema = z.object({
  /** The day the prices were last compared with the provider's price page (YYYY-MM-DD). */
  checkedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  source: z.string(),
  /** ssh/slurm: the user sets a price per GPU-hour; nothing in the table. */
  userPriced: z.boolean().default(false),
  hardware: z.record(z.string(), HardwarePriceSchema),
});

export const PriceTableSchema = z.object({
  providers: z.record(z.string(), ProviderPricesSchema),
  fallbackSecondsPerStep: RangeSchema,
});
export type PriceTable = z.infer<typeof PriceTableSchema>;

/** The shipped table, validated once at load so a bad edit fails loudly in tests rather than mis-pricing. */
export const PRICE_TABLE: PriceTable = PriceTableSchema.parse(rawPrices);

export interface UserPricing {
  /** USD per GPU-hour for providers the user prices themselves (ssh, slurm); default 0. */
  perGpuHour?: Partial<Record<ProviderId, number>>;
}

export interface HardwarePrice {
  provider: ProviderId;
  hardware: string;
  label: string;
  gpus: number;
  pricePerSecond: number;
  pricePerHour: number;
  checkedAt: string;
  source: string;
  defaultSecondsPerStep: SecondsPerStepRange;
  /** True when we had no entry and fell back (unknown hardware on a user-priced provider). */
  userPriced: boolean;
}

/** `gpu-l40s-x2` (Replicate SKU style) and `l40s-x2` (trainer profile) are the same hardware. */
export function normaliseHardware(hardware: string): string {
  return hardware.trim().toLowerCase().replace(/^gpu-/, '');
}

/** GPUs named by a `-xN` suffix (ssh/slurm hardware strings like `a100-x4` follow the same rule). */
export function gpuCount(hardware: string): number {
  const m = /(?:^|-)x(\d+)$/.exec(normaliseHardware(hardware));
  return m ? Math.max(1, Number(m[1])) : 1;
}

/**
 * Price of one hardware choice. Throws for a provider/hardware that the table does not know and
 * that is not user-priced, so a typo never silently estimates $0.
 */
export function priceFor(provider: ProviderId, hardware: string | undefined, user: UserPricing = {}, table: PriceTable = PRICE_TABLE): HardwarePrice {
  const p = table.providers[provider];
  if (!p) throw new Error(`No price table for provider "${provider}"`);
  const hw = normaliseHardware(hardware ?? (provider === 'local' ? 'local' : ''));
  const entry = p.hardware[hw];
  if (entry) {
    return {
      provider, hardware: hw, label: entry.label, gpus: entry.gpus, pricePerSecond: entry.pricePerSecond,
      pricePerHour: round(entry.pricePerSecond * 3600, 4), checkedAt: p.checkedAt, source: p.source,
      defaultSecondsPerStep: entry.defaultSecondsPerStep, userPriced: false,
    };
  }
  if (!p.userPriced) {
    throw new Error(`Unknown hardware "${hardware ?? ''}" for ${provider} (known: ${Object.keys(p.hardware).join(', ')})`);
  }
  const gpus = gpuCount(hw || 'gpu');
  const perGpuHour = Math.max(0, user.perGpuHour?.[provider] ?? 0);
  const perHour = perGpuHour * gpus;
  return {
    provider, hardware: hw || 'default', label: `${gpus}× GPU on your ${provider === 'slurm' ? 'cluster' : 'host'}`, gpus,
    pricePerSecond: perHour / 3600, pricePerHour: round(perHour), checkedAt: p.checkedAt,
    source: `your setting: $${perGpuHour}/GPU-hour`, defaultSecondsPerStep: table.fallbackSecondsPerStep, userPriced: true,
  };
}

/** Every priced hardware choice of a provider, for pickers and the cost view. */
export function priceList(provider: ProviderId, table: PriceTable = PRICE_TABLE): HardwarePrice[] {
  const p = table.providers[provider];
  if (!p) return [];
  return Object.keys(p.hardware).map((hw) => priceFor(provider, hw, {}, table));
}

export const round = (n: number, digits = 6): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};
