import type { CloudProviderId } from '../cloud/driver';

/**
 * Hourly on-demand prices, used ONLY when the provider's own listing cannot be read (and the
 * estimate then says so, with this date). The listing (`CloudDriver.listGpus`) is always asked first.
 * Sources: lambdalabs.com/service/gpu-cloud#pricing, digitalocean.com/pricing/gpu-droplets,
 * runpod.io/pricing (secure cloud), as read on the date below.
 */
export const FALLBACK_PRICES_CHECKED_AT = '2026-11-23';

export const FALLBACK_PRICES: Record<CloudProviderId, Record<string, number>> = {
  lambda: { gpu_1x_a10: 0.75, gpu_1x_a100: 1.29, gpu_1x_a100_sxm4: 1.29, gpu_1x_h100_pcie: 2.49, gpu_8x_a100: 10.32, gpu_8x_h100_sxm5: 23.92 },
  digitalocean: { 'gpu-h100x1-80gb': 3.39, 'gpu-h100x8-640gb': 23.92, 'gpu-l40sx1-48gb': 1.57 },
  runpod: { 'NVIDIA RTX A6000': 0.49, 'NVIDIA A100 80GB PCIe': 1.64, 'NVIDIA H100 80GB HBM3': 2.99, 'NVIDIA L40S': 0.86 },
};
