import type { CloudDriver, CloudProviderId, GpuOffer } from '../cloud/driver';
import { round } from '../cost/prices';
import { FALLBACK_PRICES, FALLBACK_PRICES_CHECKED_AT } from './fallback-prices';

/**
 * The cost of a whole lease before anything is rented: boot + sync + training + download, at the
 * hourly price from the provider's own listing (the dated fallback table only when the listing
 * fails, and the estimate says so). A rented machine bills from launch to gone, not only while the
 * job trains, so this is what the spending limits count.
 */
export interface Range { low: number; expected: number; high: number }

export interface LeaseEstimate {
  provider: CloudProviderId;
  gpu: string;
  gpuLabel: string;
  region?: string;
  pricePerHour: number;
  /** 'listing': the provider's answer now; 'table': FALLBACK_PRICES of FALLBACK_PRICES_CHECKED_AT. */
  priceSource: 'listing' | 'table';
  /** One sentence on where the price comes from (says so when the listing failed). */
  priceNote: string;
  seconds: { boot: number; sync: number; training: Range; download: number; total: Range };
  cost: Range;
  /** The offers listed (for pickers and error messages); undefined when the listing failed. */
  offers?: GpuOffer[];
}

/** Typical times to boot and to answer SSH, per provider (minutes; deliberately on the long side). */
const BOOT_SECONDS: Record<CloudProviderId, number> = { lambda: 300, digitalocean: 240, runpod: 180 };
/** Sync assumption: 20 MB/s, plus a minute of GPU check and set-up. */
const SYNC_BYTES_PER_SECOND = 20e6;
const DOWNLOAD_SECONDS = 120;

export class LeaseOfferError extends Error { constructor(message: string) { super(message); this.name = 'LeaseOfferError'; } }

export async function estimateLease(driver: CloudDriver, req: { gpu: string; region?: string; training: Range; syncBytes?: number }, signal?: AbortSignal): Promise<LeaseEstimate> {
  let offers: GpuOffer[] | undefined;
  let listingError: string | undefined;
  try {
    offers = await driver.listGpus(signal);
  } catch (e) {
    listingError = (e as Error).message;
  }
  let pricePerHour: number;
  let gpuLabel = req.gpu;
  let priceSource: LeaseEstimate['priceSource'];
  let priceNote: string;
  let region = req.region;
  if (offers) {
    const offer = offers.find((o) => o.id === req.gpu);
    if (!offer) {
      throw new LeaseOfferError(`${driver.provider} does not offer "${req.gpu}" now (available: ${offers.map((o) => `${o.id}${o.pricePerHour !== undefined ? ` $${o.pricePerHour.toFixed(2)}/h` : ''}`).join(', ') || 'none'}); nothing was launched`);
    }
    if (region && offer.regions.length && !offer.regions.includes(region)) {
      throw new LeaseOfferError(`${driver.provider} has no capacity for ${req.gpu} in ${region} now (regions with capacity: ${offer.regions.join(', ')}); nothing was launched`);
    }
    region ??= offer.regions[0];
    gpuLabel = offer.label;
    if (offer.pricePerHour === undefined) throw new LeaseOfferError(`${driver.provider} lists ${req.gpu} without a price; not launching a machine whose cost is unknown`);
    pricePerHour = offer.pricePerHour;
    priceSource = 'listing';
    priceNote = `${driver.provider}'s own listing, just now`;
  } else {
    const table = FALLBACK_PRICES[driver.provider][req.gpu];
    if (table === undefined) throw new LeaseOfferError(`Could not read ${driver.provider}'s GPU listing (${listingError}) and "${req.gpu}" is not in the dated price table; not launching a machine whose cost is unknown`);
    pricePerHour = table;
    priceSource = 'table';
    priceNote = `the listing failed (${listingError}): dated price table of ${FALLBACK_PRICES_CHECKED_AT}, which may be out of date`;
  }
  const boot = BOOT_SECONDS[driver.provider];
  const sync = 60 + Math.round((req.syncBytes ?? 0) / SYNC_BYTES_PER_SECOND);
  const fixed = boot + sync + DOWNLOAD_SECONDS;
  const total = { low: fixed + req.training.low, expected: fixed + req.training.expected, high: fixed + req.training.high };
  const cost = { low: round(total.low / 3600 * pricePerHour, 4), expected: round(total.expected / 3600 * pricePerHour, 4), high: round(total.high / 3600 * pricePerHour, 4) };
  return { provider: driver.provider, gpu: req.gpu, gpuLabel, region, pricePerHour, priceSource, priceNote, seconds: { boot, sync, training: req.training, download: DOWNLOAD_SECONDS, total }, cost, offers };
}
