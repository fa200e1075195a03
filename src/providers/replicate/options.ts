import * as z from 'zod';
import { DestinationSchema } from '../../core/destinations/schema';
import { OutputSchema } from '../../core/jobs/schema';
import { TRAINER_PROFILES } from './hardware';
import { DataRequestSchema } from './data-route';

const ModelRef = z.string().regex(/^[a-z0-9][a-z0-9._-]*\/[a-z0-9][a-z0-9._-]*$/i, 'expected "owner/name"');
const JsonText = z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
  .transform((v) => (typeof v === 'string' ? v : JSON.stringify(v)));

/**
 * `SubmitRequest.options` for provider "replicate". No secrets here (options are kept in
 * job.submission): tokens and keys are looked up at submission — the HF token through `getHfToken`,
 * a results destination's credentials through src/core/destinations (`planDestination`).
 */
export const TrainerOptionsSchema = z.object({
  /** SimpleTuner trainer model: a prediction on `<trainerModel>-<profile>`. */
  mode: z.literal('trainer'),
  profile: z.enum(TRAINER_PROFILES).optional(),
  /** Defaults to the setting / "simpletuner/advanced-trainer". */
  trainerModel: ModelRef.optional(),
  /** Pin a version id; otherwise the newest from /v1/models/{owner}/{name}/versions. */
  trainerVersion: z.string().min(1).optional(),
  /** The training config as JSON text or object. Default: `config/config.json` inside the package. */
  configJson: JsonText.optional(),
  /**
   * The REWRITTEN dataloader config (PackageResult.rewrittenDataloader: paths point into the archive).
   * Default: `multidatabackend.json` inside the package, which is the same document.
   */
  dataloaderJson: JsonText.optional(),
  maxTrainSteps: z.number().int().positive().optional(),
  /** How the trainer gets the data (data-route.ts): auto (default), archive, an S3 bucket, a HF dataset repo. */
  data: DataRequestSchema.optional(),
  /**
   * Where the trainer publishes results (F13): HuggingFace Hub, any S3 endpoint, or this machine's
   * endpoint (needs its publicUrl). Mapped onto the trainer's hf_token/hub_model_id/s3_* inputs.
   */
  results: DestinationSchema.optional(),
  /** Shorthand for results {kind: huggingface, repoId} (token from getHfToken). */
  hubModelId: z.string().min(1).optional(),
  /** Shorthand for an S3 bucket the trainer reaches with its own (IAM) credentials. */
  s3: z.object({
    bucket: z.string().min(1),
    region: z.string().optional(),
    endpointUrl: z.string().url().optional(),
    basePath: z.string().optional(),
    publicBaseUrl: z.string().url().optional(),
  }).optional(),
  /** Our local receiver; the job id is appended as ?job=<id>. */
  webhookUrl: z.string().url().optional(),
});

export const TrainableOptionsSchema = z.object({
  /** A trainable model: trainings.create(owner, name, version, {destination, input}). */
  mode: z.literal('trainable'),
  model: ModelRef,
  version: z.string().min(1).optional(),
  destination: ModelRef,
  /** Create the destination model if missing; undefined = ask through the Prompter (refuse without one). */
  createDestination: z.boolean().optional(),
  destinationVisibility: z.enum(['private', 'public']).default('private'),
  /** Extra training inputs (steps, trigger word...). */
  input: z.record(z.string(), z.unknown()).default({}),
  /** Which input receives the uploaded package URL. */
  packageInput: z.string().min(1).default('input_images'),
  /** Hardware the model trains on, for pricing (Replicate does not report it). */
  hardware: z.string().default('gpu-h100'),
  webhookUrl: z.string().url().optional(),
});

export const ReplicateOptionsSchema = z.preprocess(
  (v) => (v && typeof v === 'object' && !('mode' in v) ? { ...v, mode: 'trainer' } : v),
  z.discriminatedUnion('mode', [TrainerOptionsSchema, TrainableOptionsSchema]),
);
export type ReplicateOptions = z.infer<typeof ReplicateOptionsSchema>;
export type TrainerOptions = z.infer<typeof TrainerOptionsSchema>;
export type TrainableOptions = z.infer<typeof TrainableOptionsSchema>;

/** Non-secret facts about a submitted job, kept in job.metadata (prefix "replicate"). */
export const ReplicateMetadataSchema = z.object({
  replicateKind: z.enum(['prediction', 'training']),
  replicateModel: z.string(),
  replicateVersion: z.string(),
  replicateHardware: z.string(),
  replicateDestination: z.string().optional(),
  uploadFileId: z.string().optional(),
  uploadUrl: z.string().optional(),
  uploadReused: z.boolean().optional(),
  /** sha256 of the uploaded file's bytes (sent as its checksum metadata). */
  uploadSha256: z.string().optional(),
  /** The package's identity: sha256 of its manifest (not of any zip's bytes). */
  packageId: z.string().optional(),
  /** archive | remote-s3 | remote-hf (core/submit/data-route.ts). */
  dataRoute: z.string().optional(),
  /** remote-s3: the trainer's read-only dataset keys were revoked when the job ended. */
  dataKeysRevoked: z.boolean().optional(),
  packageInput: z.string().optional(),
  uploadDeleted: z.boolean().optional(),
  /** Where the results destination said the results will be (shown once the job succeeds). */
  replicateResultsOutput: OutputSchema.optional(),
});
export type ReplicateMetadata = z.infer<typeof ReplicateMetadataSchema>;
