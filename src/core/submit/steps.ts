import * as z from 'zod';

/** The steps of a submission, in order. Errors and progress name the step so a failure says where it happened. */
export const SUBMIT_STEPS = ['provider', 'config', 'package', 'consent', 'estimate', 'limits', 'confirm', 'create', 'submit', 'record'] as const;
export type SubmitStep = (typeof SUBMIT_STEPS)[number];

export const STEP_LABELS: Record<SubmitStep, string> = {
  provider: 'choosing the provider',
  config: 'reading the training config',
  package: 'packaging the datasets',
  consent: 'asking for upload consent',
  estimate: 'estimating the cost',
  limits: 'checking spending limits',
  confirm: 'confirming the cost',
  create: 'recording the job',
  submit: 'uploading and starting the job',
  record: 'saving the provider\'s answer',
};

/**
 * A submission that did not happen. `cancelled` distinguishes "the person stopped it" from a failure;
 * either way nothing of it remains (no job in history, no package, no log file).
 */
export class SubmitError extends Error {
  readonly code = 'SUBMIT_FAILED';
  constructor(readonly step: SubmitStep, readonly cancelled: boolean, override readonly cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(cancelled
      ? `Submission cancelled while ${STEP_LABELS[step]}; nothing was left behind.`
      : `Submission failed while ${STEP_LABELS[step]} (step "${step}"): ${reason}`);
    this.name = 'SubmitError';
  }
}

/** What the packager hands back (the packaging module's PackageResult, the fields we use). */
export const PackageInfoSchema = z.object({
  zipPath: z.string(),
  sha256: z.string(),
  reused: z.boolean().default(false),
  datasets: z.array(z.object({ id: z.string(), root: z.string(), files: z.number(), bytes: z.number(), archivePrefix: z.string().optional() })),
  excluded: z.array(z.object({ dataset: z.string(), relPath: z.string(), reason: z.string() })).default([]),
  totalFiles: z.number(),
  totalBytes: z.number(),
  zipBytes: z.number(),
  rewrittenDataloader: z.unknown().optional(),
});
export type PackageInfo = z.infer<typeof PackageInfoSchema>;

export interface PackageRequest {
  trainingConfigPath?: string;
  dataloaderConfigPath: string;
  cacheDir: string;
  signal?: AbortSignal;
  onProgress?(message: string, fraction?: number): void;
}

/**
 * Builds the upload package; the packaging module provides the real one, tests a small fake.
 * A build that fails or is aborted leaves no partial file behind; once it returns, the pipeline owns
 * the zip and deletes it if the provider never accepts the job (unless it was `reused` from the cache).
 */
export interface Packager {
  build(req: PackageRequest): Promise<PackageInfo>;
  /** Folders a provider syncs as they are (SSH, Slurm): scanned with the packaging exclusions, nothing written. */
  summarizeFolders?(req: FolderSummaryRequest): Promise<FolderSummary>;
}

export interface FolderSummaryRequest {
  folders: Array<{ id: string; path: string }>;
  signal?: AbortSignal;
  onProgress?(message: string, fraction?: number): void;
}

/** What leaves the machine when folders are synced: the consent step's input. */
export type FolderSummary = Pick<PackageInfo, 'datasets' | 'excluded' | 'totalFiles' | 'totalBytes'>;

/** The bits of a training config the submission needs. */
export interface TrainingConfigInfo {
  maxTrainSteps?: number;
  numTrainEpochs?: number;
  /** Absolute path of the dataloader config the training config points to. */
  dataloaderPath?: string;
  outputDir?: string;
}

export interface ConfigReader {
  read(trainingConfigPath: string): Promise<TrainingConfigInfo>;
}
