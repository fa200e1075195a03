import * as z from 'zod';

/**
 * Where a job's results go, chosen per job (F13). Only non-secret fields live here (this object may
 * be stored on the job); tokens and secret keys are looked up at submission through `SecretLookup`.
 */
export const HuggingFaceDestinationSchema = z.object({
  kind: z.literal('huggingface'),
  /** `owner/name` of the model repo. */
  repoId: z.string().regex(/^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/, 'repo id must look like owner/name'),
  private: z.boolean().default(true),
  revision: z.string().min(1).default('main'),
  /** Hub API base, for mirrors and tests. */
  endpoint: z.url().default('https://huggingface.co'),
});

export const S3DestinationSchema = z.object({
  kind: z.literal('s3'),
  /** Custom endpoint (MinIO, R2, …); AWS when absent. */
  endpoint: z.url().optional(),
  region: z.string().min(1).default('us-east-1'),
  bucket: z.string().min(3).max(63),
  prefix: z.string().default(''),
  /** The secret key is read from SecretStorage (`s3:<accessKeyId>`), else AWS_* from the environment. */
  accessKeyId: z.string().min(1).optional(),
  forcePathStyle: z.boolean().default(true),
});

export const LocalEndpointDestinationSchema = z.object({
  kind: z.literal('local'),
  bucket: z.string().min(3).max(63).default('cloud-training'),
  /** How long the job's upload credentials stay valid. */
  ttlSeconds: z.number().int().positive().max(30 * 24 * 3600).default(7 * 24 * 3600),
  /**
   * URL the job should use to reach this machine's endpoint (e.g. a tunnel). Defaults to the
   * server's own URL, which only a job on this machine or network can reach.
   */
  publicUrl: z.url().optional(),
});

export const DestinationSchema = z.discriminatedUnion('kind', [HuggingFaceDestinationSchema, S3DestinationSchema, LocalEndpointDestinationSchema]);
export type Destination = z.infer<typeof DestinationSchema>;
export type HuggingFaceDestination = z.infer<typeof HuggingFaceDestinationSchema>;
export type S3Destination = z.infer<typeof S3DestinationSchema>;
export type LocalEndpointDestination = z.infer<typeof LocalEndpointDestinationSchema>;

/** SecretStorage in the extension, the environment in the CLI. */
export type SecretLookup = (name: string) => Promise<string | undefined>;

export const HF_TOKEN_SECRET = 'huggingface.token';
export const s3SecretName = (accessKeyId: string): string => `s3:${accessKeyId}`;

/** Progress of a delivery: bytes sent of the total, and the file being sent. */
export type DeliveryProgress = (p: { bytes: number; totalBytes: number; file?: string }) => void;
