import type { Job, JobOutput, JobStatus, Progress, ProviderId } from '../jobs/schema';
import type { DataPlan } from '../submit/data-route';
import type { JobHistory } from '../jobs/history';

/**
 * The one interface every provider implements (the seed's CloudTrainerService).
 * Providers are plain TypeScript (no vscode import) so the CLI, the tests and the extension share them.
 * Anything interactive (asking for a passphrase, trusting a host key) goes through `Prompter`.
 */
/** A local folder a provider syncs to its host (see TrainingProvider.foldersToSync). */
export interface SyncedFolder { id: string; path: string }

export interface TrainingProvider {
  readonly id: ProviderId;
  readonly displayName: string;
  readonly capabilities: ProviderCapabilities;

  /** Check credentials/connectivity; never throws for "bad credentials", returns ok:false with a reason. */
  validateCredentials(signal?: AbortSignal): Promise<CredentialCheck>;

  /** Hardware choices offered in the picker (with the price table's price where known). */
  listHardware(): Promise<HardwareOption[]>;

  /**
   * Start a job. The job already exists in history (status `uploading` or `queued`); the provider uploads
   * what it must and starts it, returning the provider's id and any metadata to store.
   * Must honour `signal` until the remote job exists; after that, cancellation is `cancel()`.
   */
  submit(job: Job, request: SubmitRequest, ctx: ProviderContext): Promise<SubmitResult>;

  /**
   * Providers that copy folders (SSH, Slurm) rather than upload one package: the local folders this
   * request would send, so consent can list them without building a zip nobody uploads.
   */
  foldersToSync?(request: SubmitRequest, workspace: string | undefined): Promise<SyncedFolder[]>;

  /**
   * Providers whose trainer may not read the package as built (Replicate's SimpleTuner trainer): decide
   * how the data will reach it before consent and before any upload. Throws DataRouteRefusedError when
   * no route works. The plan is shown in consent and handed back in `SubmitRequest.dataPlan`.
   */
  planData?(request: SubmitRequest, ctx: PlanDataContext): Promise<DataPlan | undefined>;

  /** Current state from the provider. */
  status(job: Job, ctx: ProviderContext): Promise<StatusUpdate>;

  /**
   * Log bytes from `offset` of the provider's full log (a byte offset into the UTF-8 log text).
   * The caller appends them to the job's local mirror, whose size is the next offset, so a reload
   * never repeats or loses lines. Providers that write the mirror themselves (local) return null.
   */
  fetchLogs(job: Job, offset: number, ctx: ProviderContext): Promise<Buffer | null>;

  /** Ask the provider to stop the job. A job that is already gone is not an error. */
  cancel(job: Job, ctx: ProviderContext): Promise<void>;

  /** Jobs started elsewhere (account-wide), for "import". Optional. */
  listRemote?(limit: number, ctx: ProviderContext): Promise<RemoteJobSummary[]>;

  /**
   * Called once a job reached a terminal state: download outputs, deliver them to the job's results
   * destination, delete uploads, clean up. `statusDetail` (when present, even undefined) replaces the job's.
   */
  finalize?(job: Job, ctx: ProviderContext): Promise<FinalizeResult>;

  /**
   * The output of `nvidia-smi` (GPU_SAMPLE_COMMAND, src/core/gpu/samples.ts) on the machine running
   * the job, over the connection already held; undefined when there is nothing to sample. Optional.
   */
  sampleGpus?(job: Job, ctx: ProviderContext): Promise<string | undefined>;

  /**
   * Targets with a queue on this machine (local, SSH): how many jobs fit at once on `hardware` (its
   * GPU count); undefined when unknown (the queue then uses 1). Optional.
   */
  capacity?(hardware: string | undefined, ctx: ProviderContext): Promise<number | undefined>;

  /**
   * Providers that push status to `/api/cloud/webhooks/{id}` on the local server. Optional; the server
   * routes verified deliveries here (src/core/providers/webhooks.ts). Keep heavy code out of the
   * provider's module: load it inside `handle`, with the first delivery.
   */
  readonly webhooks?: ProviderWebhooks;

  dispose?(): void | Promise<void>;
}

/** What a webhook handler may use: the job history, the data folder (log mirrors), a log. */
export interface WebhookContext {
  history: JobHistory;
  dataHome: string;
  log?(line: string): void;
}

export interface ProviderWebhooks {
  /** The provider's own signing secret, used when the user stored none. */
  secret?(): Promise<string>;
  /** Apply a delivery whose signature, timestamp and id were already verified by the server. */
  handle(payload: unknown, ctx: WebhookContext): Promise<void>;
}

export type FinalizeResult = Partial<Pick<Job, 'outputs' | 'metadata' | 'cost' | 'statusDetail'>>;

export interface ProviderCapabilities {
  costTracking: boolean;
  liveLogs: boolean;
  cancel: boolean;
  resume: boolean;
  webhooks: boolean;
  listRemote: boolean;
  /** Needs the consent flow because data leaves this machine. */
  uploadsData: boolean;
}

export interface CredentialCheck { ok: boolean; account?: string; message: string }

export interface HardwareOption { id: string; label: string; pricePerHour?: number; detail?: string }

export interface SubmitRequest {
  /** Shell command (local/ssh) or provider input; interpretation is the provider's. */
  command?: string;
  cwd?: string;
  env?: Record<string, string>;
  hardware?: string;
  trainingConfigPath?: string;
  dataloaderConfigPath?: string;
  /** A built package (zip) to upload, if the provider needs one. */
  packagePath?: string;
  /** The package's identity: the sha256 of its manifest (not of the zip's bytes). */
  packageId?: string;
  /** How the data reaches the trainer, as decided by `planData` and agreed to in consent. */
  dataPlan?: DataPlan;
  /** Anything provider-specific (model, destination, host, resources...). */
  options?: Record<string, unknown>;
  /**
   * The most this job may cost under the user's spending limits, given when its price was unknown
   * before the upload. A provider that can price the job once its files are there (Together's
   * estimate-price) throws PriceAboveLimitError above it, after deleting what it uploaded.
   */
  maxCostUsd?: number;
}

export interface SubmitResult {
  providerJobId: string;
  status: JobStatus;
  providerStatus?: string;
  metadata?: Record<string, unknown>;
  startedAt?: string;
}

export interface StatusUpdate {
  status: JobStatus;
  providerStatus?: string;
  statusDetail?: string;
  progress?: Progress;
  error?: string;
  outputs?: JobOutput[];
  cost?: { actual?: number; billedSeconds?: number; pricePerHour?: number };
  startedAt?: string;
  finishedAt?: string;
  metadata?: Record<string, unknown>;
}

export interface RemoteJobSummary { providerJobId: string; status: JobStatus; createdAt: string; name?: string; hardware?: string }

/** Interactive questions a provider may ask; the extension answers with UI, the CLI with a TTY or flags. */
export interface Prompter {
  confirm(message: string, detail?: string): Promise<boolean>;
  secret(prompt: string): Promise<string | undefined>;
}

export interface PlanDataContext {
  /** Where derived, content-addressed files (a route's archive) may be cached. */
  cacheDir: string;
  signal?: AbortSignal;
  report?(message: string, fraction?: number): void;
}

export interface ProviderContext {
  signal?: AbortSignal;
  /** Human-readable progress ("uploading 40%"). */
  report?(message: string, fraction?: number): void;
  log?(line: string): void;
  prompter?: Prompter;
  /** Folder for this job's local files (log mirror lives at job.logPath). */
  dataHome: string;
}
