import * as z from 'zod';

/** GPU sample shapes, without Node imports: the job details webview validates its data with them. */
export const GpuReadingSchema = z.object({
  index: z.number().int().nonnegative(),
  /** % */
  util: z.number().min(0).max(100),
  /** MiB */
  memUsed: z.number().nonnegative(),
  memTotal: z.number().nonnegative(),
  /** W; absent when the GPU does not report it ("[N/A]"). */
  power: z.number().nonnegative().optional(),
});
export type GpuReading = z.infer<typeof GpuReadingSchema>;

export const GpuSampleSchema = z.object({ t: z.number(), gpus: z.array(GpuReadingSchema).min(1) });
export type GpuSample = z.infer<typeof GpuSampleSchema>;

/** `metadata.gpu` on the job: the latest sample, and since when every GPU has been under 10%. */
export const GpuSummarySchema = z.object({
  at: z.string(),
  gpus: z.array(GpuReadingSchema),
  idleSince: z.string().optional(),
});
export type GpuSummary = z.infer<typeof GpuSummarySchema>;


export const IDLE_UTIL_PERCENT = 10;
export const IDLE_WARN_MS = 10 * 60_000;

/** "GPU idle — data loading bound?" once every GPU sat under 10% for 10 minutes. */
export function isGpuIdle(s: GpuSummary | undefined): boolean {
  return !!s?.idleSince && Date.parse(s.at) - Date.parse(s.idleSince) >= IDLE_WARN_MS;
}

