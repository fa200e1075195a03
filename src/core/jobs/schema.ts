import * as z from 'zod';

/** Providers we ship. Each lives in src/providers/<id>/ and implements TrainingProvider. */
export const ProviderIdSchema = z.enum(['local', 'replicate', 'ssh', 'slurm', 'together', 'fireworks']);
export type ProviderId = z.infer<typeof ProviderIdSchema>;

/**
 * Our job states. Providers map their own states onto these (see each provider's `mapStatus`).
 * `uploading` comes before the provider knows the job; `queued` means the provider accepted it.
 */
export const JobStatusSchema = z.enum(['uploading', 'queued', 'starting', 'running', 'succeeded', 'failed', 'cancelled']);
export type JobStatus = z.infer<typeof JobStatusSchema>;

export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];
export const isTerminal = (s: JobStatus): boolean => TERMINAL_STATUSES.includes(s);
export const isActive = (s: JobStatus): boolean => !isTerminal(s);

export const ProgressSchema = z.object({
  step: z.number().int().nonnegative().optional(),
  totalSteps: z.number().int().positive().optional(),
  /** 0..100 */
  percent: z.number().min(0).max(100).optional(),
  epoch: z.number().nonnegative().optional(),
  totalEpochs: z.number().nonnegative().optional(),
  loss: z.number().optional(),
  learningRate: z.number().optional(),
  etaSeconds: z.number().nonnegative().optional(),
  secondsPerStep: z.number().nonnegative().optional(),
});
export type Progress = z.infer<typeof ProgressSchema>;

/** One point of the metric series drawn in the job details chart. */
/** `t`: when the monitor read it (epoch ms), for a time axis shared with GPU samples; absent on old points. */
export const MetricPointSchema = z.object({ step: z.number(), loss: z.number().optional(), learningRate: z.number().optional(), t: z.number().optional() });
export type MetricPoint = z.infer<typeof MetricPointSchema>;

export const CostSchema = z.object({
  currency: z.literal('USD').default('USD'),
  hardware: z.string().optional(),
  pricePerHour: z.number().nonnegative().optional(),
  estimate: z.object({ low: z.number(), expected: z.number(), high: z.number(), basis: z.string().optional() }).optional(),
  /** Final (or, while running, accrued) cost in USD. */
  actual: z.number().nonnegative().optional(),
  billedSeconds: z.number().nonnegative().optional(),
});
export type Cost = z.infer<typeof CostSchema>;

export const ConsentDecisionSchema = z.enum(['once', 'always-workspace', 'setting-allow', 'not-required']);
export const ConsentRecordSchema = z.object({
  decision: ConsentDecisionSchema,
  at: z.string(),
  destination: z.string().optional(),
  datasets: z.array(z.object({ id: z.string(), files: z.number().int(), bytes: z.number() })).default([]),
  excludedCount: z.number().int().default(0),
});
export type ConsentRecord = z.infer<typeof ConsentRecordSchema>;

export const OutputSchema = z.object({
  /** `model`: a model name held by the provider (a managed fine-tune's output), not a downloadable URI. */
  kind: z.enum(['file', 'directory', 'url', 'huggingface', 's3', 'model']),
  uri: z.string(),
  label: z.string().optional(),
  bytes: z.number().optional(),
});
export type JobOutput = z.infer<typeof OutputSchema>;

/**
 * History written before the rename kept the package's identity (the sha256 of its manifest, not of
 * the zip) under `packageSha256`; it reads back as `packageId`, the name used since.
 */
function renameLegacyMetadata(m: Record<string, unknown>): Record<string, unknown> {
  if (!('packageSha256' in m)) return m;
  const { packageSha256, ...rest } = m;
  return 'packageId' in rest ? rest : { ...rest, packageId: packageSha256 };
}

export const JobSchema = z.object({
  id: z.string().min(1),
  name: z.string(),
  provider: ProviderIdSchema,
  providerJobId: z.string().optional(),
  /** Provider's own state string, kept verbatim for display (e.g. Slurm's PENDING). */
  providerStatus: z.string().optional(),
  /** Why the job is where it is: pending reason, "reconnecting…", error summary. */
  statusDetail: z.string().optional(),
  hardware: z.string().optional(),
  status: JobStatusSchema,
  workspace: z.string().optional(),
  configPaths: z.object({ training: z.string().optional(), dataloader: z.string().optional() }).default({}),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  progress: ProgressSchema.default({}),
  /** Deprecated in favour of the metrics sidecar file (src/core/logs/metrics.ts); kept readable. */
  metrics: z.array(MetricPointSchema).optional(),
  cost: CostSchema.optional(),
  consent: ConsentRecordSchema.optional(),
  outputs: z.array(OutputSchema).default([]),
  error: z.string().optional(),
  /** Local mirror of the job's log (append-only); the output channel tails this file. */
  logPath: z.string().optional(),
  /** Git ref of the config snapshot, when snapshots are on. */
  snapshotRef: z.string().optional(),
  /** Provider-specific, non-secret data: pid, remote dir, upload id, package sha256... */
  metadata: z.record(z.string(), z.unknown()).default({}).transform(renameLegacyMetadata),
  /** Set when the user asked to cancel; a provider that loses the process then reports cancelled, not failed. */
  cancelRequestedAt: z.string().optional(),
  /** What the job was submitted with, so "resubmit" can repeat it. */
  submission: z.record(z.string(), z.unknown()).optional(),
});
export type Job = z.infer<typeof JobSchema>;

export const HISTORY_VERSION = 1 as const;
export const HistoryFileSchema = z.object({
  version: z.literal(HISTORY_VERSION),
  jobs: z.array(z.unknown()),
});
