import { priceFor } from '../../core/cost/prices';
import type { HardwareOption } from '../../core/providers/types';

/**
 * Replicate GPU prices in USD per second (replicate.com/pricing), used when the shared price table
 * (src/core/cost/prices.json) has no entry. The seed priced every job at the L40S rate; we price by the
 * hardware the job actually ran on, times its GPU count.
 */
export const REPLICATE_PRICE_PER_SECOND: Readonly<Record<string, number>> = {
  'gpu-l40s': 0.000972222,
  'gpu-h100': 0.001525,
};

/** SimpleTuner trainer profiles: `simpletuner/advanced-trainer-<profile>`. */
export const TRAINER_PROFILES = ['l40s', 'l40s-x2', 'l40s-x4', 'l40s-x8', 'h100', 'h100-x2', 'h100-x4', 'h100-x8'] as const;
export type TrainerProfile = (typeof TRAINER_PROFILES)[number];

export interface Hardware { sku: string; gpus: number; pricePerSecond?: number }

/** `gpu-h100-x4` or the profile `h100-x4` → sku gpu-h100 × 4. */
export function parseHardware(id: string): Hardware {
  const m = /^(?:gpu-)?([a-z0-9]+?)(?:-x(\d+))?$/.exec(id.trim().toLowerCase());
  if (!m) return { sku: id, gpus: 1 };
  const sku = `gpu-${m[1]}`;
  const gpus = m[2] ? Number(m[2]) : 1;
  const rate = REPLICATE_PRICE_PER_SECOND[sku];
  return { sku, gpus, pricePerSecond: tablePrice(sku, gpus) ?? (rate === undefined ? undefined : rate * gpus) };
}

export function hardwareLabel(h: Hardware): string {
  return h.gpus > 1 ? `${h.sku}-x${h.gpus}` : h.sku;
}

/** Cost of `seconds` of billed time on `hardware`; undefined when we have no price for it. */
export function costFor(hardware: string, seconds: number): { actual?: number; pricePerHour?: number; billedSeconds: number } {
  const h = parseHardware(hardware);
  if (h.pricePerSecond === undefined) return { billedSeconds: seconds };
  return { actual: round(seconds * h.pricePerSecond), pricePerHour: round(h.pricePerSecond * 3600), billedSeconds: seconds };
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;

export function trainerHardwareOptions(): HardwareOption[] {
  return TRAINER_PROFILES.map((p) => {
    const h = parseHardware(p);
    const perHour = h.pricePerSecond === undefined ? undefined : round(h.pricePerSecond * 3600);
    return {
      id: p,
      label: `${h.gpus}× ${h.sku.replace('gpu-', '').toUpperCase()}`,
      pricePerHour: perHour,
      detail: `simpletuner/advanced-trainer-${p}${perHour === undefined ? '' : ` · $${perHour.toFixed(2)}/h`}`,
    };
  });
}

/** The shared price table's rate for this hardware (it lists each profile with its GPU count priced in). */
function tablePrice(sku: string, gpus: number): number | undefined {
  try {
    return priceFor('replicate', gpus > 1 ? `${sku}-x${gpus}` : sku).pricePerSecond;
  } catch {
    return undefined;
  }
}
