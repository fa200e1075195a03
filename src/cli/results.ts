import { DestinationSchema, type Destination } from '../core/destinations/schema';
import { UsageError } from './io';

export interface ResultsFlags {
  results?: string;
  'results-endpoint'?: string;
  'results-region'?: string;
}

/** parseArgs options shared by `submit` and `deliver`. */
export const RESULTS_OPTIONS = {
  results: { type: 'string' },
  'results-endpoint': { type: 'string' },
  'results-region': { type: 'string' },
} as const;

export const RESULTS_USAGE = '[--results hf:<owner/repo> | s3://<bucket>/<prefix> | local | none] [--results-endpoint URL] [--results-region R]';

export const RESULTS_HELP = `Results destination (where a succeeded job's outputs go; secrets only from the environment):
  --results hf:<owner/repo>         push the output folder to a HuggingFace model repo (created private if missing; HF_TOKEN)
  --results s3://<bucket>/<prefix>  upload it to <prefix>/<job id>/ in an S3 bucket (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
  --results local                   keep the outputs on this machine (default for local, SSH and Slurm jobs)
  --results none                    no destination (Replicate: keep them at the provider)
  --results-endpoint URL            S3-compatible endpoint (MinIO, R2, cloudtrain serve…) or HuggingFace Hub API base
  --results-region R                S3 region (default us-east-1)`;

const EXAMPLE = 'e.g. --results s3://my-bucket/loras or --results hf:me/my-lora';
/** Bucket naming rules every S3 implementation accepts (AWS's, without the dotted-IP case). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function bad(flag: string, what: string, example = EXAMPLE): UsageError {
  return new UsageError(`${flag}: ${what} (${example})`);
}

/**
 * `--results …` (+ endpoint/region) → a DestinationSchema value, `null` for "none", undefined when no
 * flag was given. Every error names the flag, what is wrong and an example, on one line.
 */
export function parseResultsFlags(flags: ResultsFlags): Destination | null | undefined {
  const spec = flags.results?.trim();
  const endpoint = flags['results-endpoint']?.trim();
  const region = flags['results-region']?.trim();
  if (spec === undefined) {
    if (endpoint !== undefined) throw bad('--results-endpoint', 'needs --results s3://<bucket>/<prefix> or --results hf:<owner/repo>', 'e.g. --results s3://my-bucket/loras --results-endpoint https://minio.example.com:9000');
    if (region !== undefined) throw bad('--results-region', 'needs --results s3://<bucket>/<prefix>', 'e.g. --results s3://my-bucket/loras --results-region eu-west-1');
    return undefined;
  }
  if (spec === '') throw bad('--results', 'is empty');
  const lower = spec.toLowerCase();
  const noExtras = (kind: string) => {
    if (endpoint !== undefined) throw bad('--results-endpoint', `does not apply to --results ${kind}`, 'it goes with s3://… or hf:…');
    if (region !== undefined) throw bad('--results-region', `does not apply to --results ${kind}`, 'it goes with s3://…');
  };
  if (lower === 'none') { noExtras('none'); return null; }
  if (lower === 'local') { noExtras('local'); return DestinationSchema.parse({ kind: 'local' }); }

  if (endpoint !== undefined && !isHttpUrl(endpoint)) {
    throw bad('--results-endpoint', `"${endpoint}" is not an http(s) URL`, 'e.g. --results-endpoint https://minio.example.com:9000');
  }
  if (region !== undefined && !/^[a-z0-9-]{1,64}$/i.test(region)) {
    throw bad('--results-region', `"${region}" is not a region name`, 'e.g. --results-region us-east-1');
  }

  const hf = /^(?:hf|huggingface):(?:\/\/)?(.*)$/i.exec(spec);
  if (hf) {
    if (region !== undefined) throw bad('--results-region', 'does not apply to a HuggingFace destination', 'it goes with s3://…');
    const repoId = hf[1]!.replace(/\/+$/, '');
    const r = DestinationSchema.safeParse({ kind: 'huggingface', repoId, ...(endpoint ? { endpoint } : {}) });
    if (!r.success) throw bad('--results', `"${repoId || '(empty)'}" is not a HuggingFace repo id <owner>/<name>`, 'e.g. --results hf:me/my-lora');
    return r.data;
  }

  const s3 = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(spec);
  if (s3) {
    const bucket = s3[1]!;
    const prefix = (s3[2] ?? '').replace(/^\/+|\/+$/g, '');
    if (!bucket) throw bad('--results', `"${spec}" names no bucket`, 'e.g. --results s3://my-bucket/loras');
    if (!BUCKET.test(bucket) || bucket.includes('..')) {
      throw bad('--results', `"${bucket}" is not a valid bucket name (3–63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit)`, 'e.g. --results s3://my-bucket/loras');
    }
    if (prefix.split('/').some((p) => p === '..' || p === '.')) throw bad('--results', `the key prefix "${prefix}" may not contain "." or ".." segments`, 'e.g. --results s3://my-bucket/loras');
    const r = DestinationSchema.safeParse({ kind: 's3', bucket, prefix, ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}) });
    if (!r.success) throw bad('--results', r.error.issues[0]?.message ?? 'invalid S3 destination');
    return r.data;
  }
  if (/^s3:/i.test(spec)) throw bad('--results', `"${spec}" is not an S3 URL: write it as s3://<bucket>/<prefix> (lowercase scheme, two slashes)`, 'e.g. --results s3://my-bucket/loras');
  throw bad('--results', `"${spec}" is not a destination: use hf:<owner/repo>, s3://<bucket>/<prefix>, local or none`);
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
