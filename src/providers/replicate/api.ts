import * as z from 'zod';

/**
 * The parts of Replicate's HTTP API responses we rely on (https://replicate.com/docs/reference/http).
 * Loose objects: Replicate adds fields over time and we must not break on them.
 */
export const ReplicateStatusSchema = z.enum(['starting', 'processing', 'succeeded', 'failed', 'canceled', 'aborted']);
export type ReplicateStatus = z.infer<typeof ReplicateStatusSchema>;

const MetricsSchema = z.looseObject({ predict_time: z.number().nullish(), total_time: z.number().nullish() }).nullish();

/** A prediction or a training: the two share this shape (a training's output is {version, weights}). */
export const RunSchema = z.looseObject({
  id: z.string(),
  model: z.string().nullish(),
  version: z.string().nullish(),
  status: ReplicateStatusSchema,
  input: z.record(z.string(), z.unknown()).nullish(),
  output: z.unknown().optional(),
  error: z.unknown().optional(),
  logs: z.string().nullish(),
  metrics: MetricsSchema,
  created_at: z.string().nullish(),
  started_at: z.string().nullish(),
  completed_at: z.string().nullish(),
  urls: z.looseObject({ get: z.string().optional(), cancel: z.string().optional() }).nullish(),
  destination: z.string().nullish(),
});
export type ReplicateRun = z.infer<typeof RunSchema>;

export const FileSchema = z.looseObject({
  id: z.string(),
  size: z.number().optional(),
  content_type: z.string().optional(),
  checksums: z.record(z.string(), z.string()).nullish(),
  metadata: z.unknown().optional(),
  created_at: z.string().optional(),
  expires_at: z.string().nullish(),
  urls: z.looseObject({ get: z.string() }),
});
export type ReplicateFile = z.infer<typeof FileSchema>;

export const AccountSchema = z.looseObject({ type: z.string().optional(), username: z.string(), name: z.string().nullish() });

export const ModelSchema = z.looseObject({
  owner: z.string(),
  name: z.string(),
  visibility: z.string().optional(),
  latest_version: z.looseObject({ id: z.string() }).nullish(),
});

export const VersionSchema = z.looseObject({
  id: z.string(),
  created_at: z.string().nullish(),
  openapi_schema: z.unknown().optional(),
});
export type ReplicateVersion = z.infer<typeof VersionSchema>;

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.looseObject({ next: z.string().nullish(), previous: z.string().nullish(), results: z.array(item) });

export const WebhookSecretSchema = z.looseObject({ key: z.string() });

/** Training output: the new version and its weights. */
export const TrainingOutputSchema = z.looseObject({ version: z.string().nullish(), weights: z.string().nullish() });
