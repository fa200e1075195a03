import path from 'node:path';
import type { JobHistory } from '../jobs/history';
import { mergeOutputs } from '../jobs/outputs';
import type { Job, JobOutput } from '../jobs/schema';
import { listOutputFiles } from './files';
import { resolveHfToken } from './huggingface';
import { deliverFolder } from './index';
import { resolveS3Credentials } from './s3';
import { Destination, DestinationSchema, HF_TOKEN_SECRET, type SecretLookup } from './schema';

/**
 * F13 for jobs whose outputs end up on this machine (local, SSH, Slurm): once a job has *succeeded*
 * and its outputs are here, push the output folder to the job's results destination (HuggingFace
 * Hub or S3). A failed delivery never loses the local outputs nor fails the job: it is recorded on
 * the job (`metadata.deliveryError`, a `statusDetail`) and can be retried (`cloudtrain deliver`,
 * "Deliver Results…" in the editor).
 */

/** job.metadata key holding the destination (DestinationSchema: non-secret fields only). */
export const RESULTS_DESTINATION_KEY = 'resultsDestination';

/** Where delivery secrets come from: SecretStorage in VS Code, the environment in the CLI (see envSecretLookup). */
export interface DeliveryDeps {
  secrets?: SecretLookup;
  env?: NodeJS.ProcessEnv;
}

/** The CLI's SecretLookup: HF_TOKEN, and the S3 secret key of the access key id in AWS_ACCESS_KEY_ID. */
export function envSecretLookup(env: NodeJS.ProcessEnv): SecretLookup {
  return async (name) => {
    if (name === HF_TOKEN_SECRET) return env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
    if (name.startsWith('s3:') && env.AWS_ACCESS_KEY_ID && name.slice(3) === env.AWS_ACCESS_KEY_ID) return env.AWS_SECRET_ACCESS_KEY;
    return undefined;
  };
}

/** `options.results` of a local/SSH/Slurm submission, validated; a clear error names what is wrong. */
export function parseResultsOption(options: Record<string, unknown> | undefined): Destination | undefined {
  const raw = options?.results;
  if (raw === undefined || raw === null) return undefined;
  const r = DestinationSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Error(`Invalid results destination: ${i?.path.join('.') || '(root)'} ${i?.message ?? ''}`.trim());
  }
  return r.data;
}

/** The destination stored on the job at submission (undefined: none, or an unreadable entry). */
export function resultsDestinationOf(job: Pick<Job, 'metadata'>): Destination | undefined {
  const r = DestinationSchema.safeParse(job.metadata[RESULTS_DESTINATION_KEY]);
  return r.success ? r.data : undefined;
}

/** Destinations this machine pushes to; `local` means "keep the outputs here". */
export function needsDelivery(d: Destination | undefined): d is Exclude<Destination, { kind: 'local' }> {
  return d !== undefined && d.kind !== 'local';
}

/**
 * Called at submission: are the secrets this destination needs there? Hours of training should not
 * end with "no token". (The job may still be finalised by another process — the CLI or the editor —
 * which looks them up again then.)
 */
export async function checkDeliveryCredentials(d: Destination | undefined, deps: DeliveryDeps): Promise<void> {
  if (!needsDelivery(d)) return;
  const secrets = deps.secrets ?? (async () => undefined);
  const env = deps.env ?? process.env;
  try {
    if (d.kind === 'huggingface') await resolveHfToken(secrets, env);
    else await resolveS3Credentials(d, secrets, env);
  } catch (e) {
    throw new Error(`Results destination ${describeDestination(d)}: ${(e as Error).message}`);
  }
}

/** "HuggingFace me/lora", "s3://bucket/prefix/<job>/ (https://minio…)". */
export function describeDestination(d: Destination, jobId?: string): string {
  switch (d.kind) {
    case 'huggingface':
      return `HuggingFace ${d.repoId}${d.endpoint !== 'https://huggingface.co' ? ` (${d.endpoint})` : ''}`;
    case 's3': {
      const prefix = d.prefix.replace(/^\/+|\/+$/g, '');
      const key = [prefix, jobId].filter(Boolean).join('/');
      return `s3://${d.bucket}/${key}${key ? '/' : ''}${d.endpoint ? ` (${d.endpoint})` : ''}`;
    }
    case 'local':
      return 'this machine';
  }
}

/** For the tree's one-line description: "HF me/lora", "s3://bucket/prefix". */
function shortDestination(d: Destination): string {
  return d.kind === 'huggingface' ? `HF ${d.repoId}` : d.kind === 's3' ? `s3://${d.bucket}/${d.prefix.replace(/^\/+|\/+$/g, '')}` : 'this machine';
}

/** What finalize/retry merge into the job. `statusDetail` is always set (undefined clears an old failure). */
export interface DeliveryOutcome {
  delivered: boolean;
  outputs: JobOutput[];
  metadata: Record<string, unknown>;
  statusDetail: string | undefined;
  error?: string;
}

export interface DeliverJobOptions {
  job: Job;
  /** The local folder holding the job's outputs; undefined with `noFolderReason` when there is none. */
  folder: string | undefined;
  noFolderReason?: string;
  /** Defaults to the destination stored on the job. */
  destination?: Destination;
  deps: DeliveryDeps;
  signal?: AbortSignal;
  log?: (line: string) => void;
  report?: (message: string, fraction?: number) => void;
}

/**
 * Deliver one job's outputs. Returns undefined when there is nothing to do: no destination, `local`
 * (they stay here), or a job that did not succeed (a failed or cancelled run's outputs are not
 * published). Never throws for a delivery failure: the outcome carries it.
 */
export async function deliverJobOutputs(o: DeliverJobOptions): Promise<DeliveryOutcome | undefined> {
  const { job } = o;
  const stored = job.metadata[RESULTS_DESTINATION_KEY];
  const destination = o.destination ?? resultsDestinationOf(job);
  if (job.status !== 'succeeded') {
    if (needsDelivery(destination)) o.log?.(`Job ${job.id} ${job.status}: its outputs are not delivered to ${describeDestination(destination, job.id)}`);
    return undefined;
  }
  if (!o.destination && stored !== undefined && !destination) {
    return failed(`the results destination stored on the job is not valid (${JSON.stringify(stored).slice(0, 200)})`, undefined, o);
  }
  if (!needsDelivery(destination)) return undefined;
  const where = describeDestination(destination, job.id);
  if (!o.folder) return failed(o.noFolderReason ?? 'the job has no output folder on this machine', destination, o);
  let files: Awaited<ReturnType<typeof listOutputFiles>>;
  try {
    files = await listOutputFiles(o.folder);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return failed(`cannot read the output folder ${o.folder}: ${(e as Error).message}`, destination, o);
    files = [];
  }
  if (!files.length) {
    const hint = job.provider === 'local'
      ? ': the training command must write its results to {output_dir} (or $CLOUD_TRAINING_OUTPUT_DIR) for them to be delivered'
      : '';
    return failed(`the output folder ${o.folder} has no files${hint}`, destination, o);
  }

  // Secret values seen during this delivery, so an error message can never carry one.
  const seen: string[] = [];
  const env = o.deps.env ?? process.env;
  const lookup = o.deps.secrets ?? (async () => undefined);
  const secrets: SecretLookup = async (name) => {
    const v = await lookup(name);
    if (v) seen.push(v);
    return v;
  };
  for (const k of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'AWS_SECRET_ACCESS_KEY']) if (env[k]) seen.push(env[k]!);

  const bytes = files.reduce((n, f) => n + f.size, 0);
  o.log?.(`Delivering ${files.length} output file(s) (${bytes} bytes) of job ${job.id} to ${where}…`);
  try {
    let lastPercent = -1;
    const outputs = await deliverFolder(o.folder, destination, {
      jobId: job.id, secrets, env, signal: o.signal,
      onProgress: (p) => {
        const percent = p.totalBytes ? Math.floor((p.bytes / p.totalBytes) * 100) : 100;
        if (percent === lastPercent) return;
        lastPercent = percent;
        o.report?.(`Delivering results to ${where} (${percent}%)`, p.totalBytes ? p.bytes / p.totalBytes : undefined);
      },
    });
    o.log?.(`Delivered job ${job.id}'s outputs to ${where}`);
    return {
      delivered: true,
      outputs,
      metadata: { resultsFolder: o.folder, deliveredAt: new Date().toISOString(), deliveryError: undefined, deliveryFailedAt: undefined },
      statusDetail: undefined,
    };
  } catch (e) {
    // S3 errors carry their code as the name (SignatureDoesNotMatch, NoSuchBucket, AccessDenied…).
    const err = e as Error;
    const text = err.name && err.name !== 'Error' && !err.message.startsWith(err.name) ? `${err.name}: ${err.message}` : err.message;
    return failed(scrubSecrets(text, seen), destination, o);
  }
}

function failed(reason: string, destination: Destination | undefined, o: DeliverJobOptions): DeliveryOutcome {
  const where = destination ? describeDestination(destination, o.job.id) : 'its results destination';
  const error = `Delivering the outputs to ${where} failed: ${reason.trim().replace(/\.+$/, '')}`;
  o.log?.(`Job ${o.job.id}: ${error}. The outputs${o.folder ? ` in ${o.folder}` : ''} are kept; retry with \`cloudtrain deliver ${o.job.id}\` or "Deliver Results…" on the job.`);
  return {
    delivered: false,
    outputs: [],
    metadata: { ...(o.folder ? { resultsFolder: o.folder } : {}), deliveryError: error, deliveryFailedAt: new Date().toISOString() },
    statusDetail: `Results not delivered to ${destination ? shortDestination(destination) : 'the destination'}`,
    error,
  };
}

export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

/**
 * The folder a finished job's outputs are in on this machine, for a delivery retry: the folder the
 * last delivery used, else the provider's (local: the job's output folder; SSH/Slurm: where outputs
 * were downloaded).
 */
export function localOutputFolderOf(job: Job): string | undefined {
  const m = job.metadata;
  for (const k of ['resultsFolder', job.provider === 'local' ? 'outputDir' : 'localOutputDir']) {
    const v = m[k];
    if (typeof v === 'string' && path.isAbsolute(v)) return v;
  }
  // SSH jobs without a workspace downloaded into the data folder: the folder listed on the job.
  return job.outputs.find((o) => o.kind === 'directory' && path.isAbsolute(o.uri))?.uri;
}

/**
 * Deliver a finished job's outputs again (after a failure, or to a destination chosen afterwards)
 * and record the result on the job. Throws when there is nothing that could be delivered; a failed
 * upload is recorded and returned (`outcome.delivered === false`).
 */
export async function redeliverJob(o: {
  history: JobHistory; jobId: string; destination?: Destination; deps: DeliveryDeps;
  signal?: AbortSignal; log?: (line: string) => void; report?: (message: string, fraction?: number) => void;
}): Promise<{ job: Job; outcome: DeliveryOutcome }> {
  const job = await o.history.resolve(o.jobId);
  if (job.provider === 'replicate') throw new Error(`Job ${job.id} ran on Replicate: its trainer publishes the results itself (choose the destination when submitting).`);
  if (job.status !== 'succeeded') throw new Error(`Job ${job.id} is ${job.status}: only the outputs of a succeeded job are delivered.`);
  const destination = o.destination ?? resultsDestinationOf(job);
  if (!destination) throw new Error(`Job ${job.id} has no results destination: give one (e.g. --results s3://my-bucket/loras).`);
  if (!needsDelivery(destination)) throw new Error(`The destination "local" keeps the outputs on this machine: nothing to deliver.`);
  const folder = localOutputFolderOf(job);
  const outcome = (await deliverJobOutputs({
    job, folder, destination, deps: o.deps, signal: o.signal, log: o.log, report: o.report,
    noFolderReason: job.provider === 'local' ? 'the job has no output folder' : 'its outputs were not downloaded to this machine',
  }))!;
  const updated = await o.history.update(job.id, (j) => ({
    ...j,
    outputs: mergeOutputs(j.outputs, outcome.outputs),
    statusDetail: outcome.statusDetail,
    metadata: { ...j.metadata, ...outcome.metadata, ...(o.destination ? { [RESULTS_DESTINATION_KEY]: destination } : {}) },
  }));
  return { job: updated ?? job, outcome };
}
