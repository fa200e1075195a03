import { parseDataFlag, type DataRequest } from '../providers/replicate/data-route';
import { TRAINER_PROFILES } from '../providers/replicate/hardware';
import type { SecretLookup } from '../core/destinations/schema';
import { s3SecretName } from '../core/destinations/schema';
import { UsageError } from './io';

/** Where the CLI reads the secrets of `--data-key` / `--data-read-key` (names, never values, on the command line). */
export const DATA_SECRET_ENV = 'AWS_SECRET_ACCESS_KEY';
export const DATA_READ_SECRET_ENV = 'CLOUD_TRAINING_DATA_READ_SECRET_ACCESS_KEY';

/** parseArgs options of `cloudtrain submit --provider replicate`. */
export const REPLICATE_OPTIONS = {
  'max-train-steps': { type: 'string' },
  'hub-model-id': { type: 'string' },
  'trainer-model': { type: 'string' },
  'trainer-version': { type: 'string' },
  data: { type: 'string' },
  'data-fallback': { type: 'string' },
  'data-endpoint': { type: 'string' },
  'data-region': { type: 'string' },
  'data-key': { type: 'string' },
  'data-read-key': { type: 'string' },
  'data-secret-env': { type: 'string' },
  'data-read-secret-env': { type: 'string' },
  model: { type: 'string' },
  version: { type: 'string' },
  destination: { type: 'string' },
  'create-destination': { type: 'boolean' },
  'package-input': { type: 'string' },
  input: { type: 'string', multiple: true },
} as const;

export const REPLICATE_USAGE = '[--max-train-steps N] [--hub-model-id O/N] [--trainer-model O/N] [--trainer-version V] [--data archive|s3://B/P|hf:O/N] [--data-fallback s3://B/P|hf:O/N] [--model O/N --destination O/N [--input k=v]...]';

export const REPLICATE_HELP = `Replicate (--provider replicate only):
  --hardware P           SimpleTuner trainer profile: ${TRAINER_PROFILES.join(', ')} (default l40s)
  --max-train-steps N    the trainer's max_train_steps (default: the training config's --max_train_steps)
  --hub-model-id O/N     publish the results to this HuggingFace model repo (token: HF_TOKEN)
  --trainer-model O/N    trainer model family (default simpletuner/advanced-trainer; -<profile> is appended)
  --trainer-version V    pin a trainer version id (default: the newest)
  --data ROUTE           how the trainer gets the datasets (README "Replicate: how the trainer gets your data"):
                           auto     (default) the archive route when the dataloader fits it, else the
                                    --data-fallback location when one is given, else refuse
                           archive  one archive of one image dataset, captions as file names; refused if
                                    the dataloader does not fit (the reason and the ways out are printed)
                           s3://bucket/prefix  the datasets go to a bucket and the trainer reads them with
                                    SimpleTuner's aws backend; on the built-in endpoint with read-only
                                    per-job keys (expire, revoked when the job ends)
                           hf:owner/dataset    the datasets go to a private HuggingFace dataset repo (one
                                    split each) and the trainer reads them with the job's hf_token
                                    (HF_TOKEN; use a fine-grained token limited to the repos)
  --data-fallback ROUTE  with --data auto: s3://bucket/prefix or hf:owner/dataset, used (and named in
                         consent) only when the archive route does not fit; the --data-* flags apply to it
  --data-endpoint URL    s3 route: the endpoint the trainer reads (a tunnel to the built-in one, R2, MinIO…)
  --data-region R        s3 route: region (default us-east-1)
  --data-key ID          s3 route on your own service: the access key that uploads (used here only)
  --data-read-key ID     s3 route on your own service: a read-only key for the trainer (required with --data-key)
  --data-secret-env NAME       env var holding --data-key's secret (default AWS_SECRET_ACCESS_KEY)
  --data-read-secret-env NAME  env var holding --data-read-key's secret (default CLOUD_TRAINING_DATA_READ_SECRET_ACCESS_KEY)
                         Secrets are only read from the environment, never from the command line. The
                         built-in endpoint's per-job keys are an editor feature (see README).
  --model O/N            a trainable model instead of the SimpleTuner trainer (trainings.create)
  --destination O/N      the model the training writes its new version to (with --model)
  --version V            version of --model (default: its latest)
  --create-destination   create --destination if it does not exist (private)
  --package-input NAME   --model's input that receives the uploaded package URL (default input_images)
  --input key=value      another training input of --model (repeatable; JSON values are parsed)
  Example: cloudtrain submit -p replicate -c config/config.json --hardware h100 --max-train-steps 500 --hub-model-id me/my-lora --yes
  Example: cloudtrain submit -p replicate -c config/config.json --model ostris/flux-dev-lora-trainer --destination me/my-flux --input steps=1000 --yes`;

export type ReplicateFlags = { [K in keyof typeof REPLICATE_OPTIONS]?: (typeof REPLICATE_OPTIONS)[K]['type'] extends 'boolean' ? boolean : (typeof REPLICATE_OPTIONS)[K] extends { multiple: true } ? string[] : string };

const MODEL_REF = /^[a-z0-9][a-z0-9._-]*\/[a-z0-9][a-z0-9._-]*$/i;

/**
 * The Replicate flags → `SubmitRequest.options` fields (validated again by ReplicateOptionsSchema in the
 * provider). Every bad value is a UsageError (exit 2) naming the flag and an example.
 */
export function parseReplicateFlags(v: ReplicateFlags, provider: string, hardware: string | undefined): Record<string, unknown> | undefined {
  const given = (Object.keys(REPLICATE_OPTIONS) as (keyof typeof REPLICATE_OPTIONS)[]).filter((k) => v[k] !== undefined);
  if (provider !== 'replicate') {
    if (given.length) throw new UsageError(`--${given[0]} is for --provider replicate`);
    return undefined;
  }
  const ref = (flag: 'hub-model-id' | 'trainer-model' | 'model' | 'destination') => {
    const x = v[flag]?.trim();
    if (x !== undefined && !MODEL_REF.test(x)) throw new UsageError(`--${flag} expects owner/name, got "${v[flag]}" (e.g. --${flag} me/my-model)`);
    return x;
  };
  if (v.model !== undefined || v.destination !== undefined) {
    const model = ref('model');
    const destination = ref('destination');
    if (!model || !destination) throw new UsageError('--model and --destination go together (e.g. --model ostris/flux-dev-lora-trainer --destination me/my-flux)');
    for (const f of ['max-train-steps', 'hub-model-id', 'trainer-model', 'trainer-version', 'data', 'data-fallback', 'data-endpoint', 'data-region', 'data-key', 'data-read-key', 'data-secret-env', 'data-read-secret-env'] as const) {
      if (v[f] !== undefined) throw new UsageError(`--${f} is for the SimpleTuner trainer, not for --model (a trainable model takes --input key=value)`);
    }
    const input: Record<string, unknown> = {};
    for (const kv of v.input ?? []) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new UsageError(`--input expects key=value, got "${kv}" (e.g. --input steps=1000)`);
      const raw = kv.slice(i + 1);
      try { input[kv.slice(0, i)] = JSON.parse(raw); } catch { input[kv.slice(0, i)] = raw; }
    }
    return drop({
      mode: 'trainable', model, destination, version: v.version?.trim() || undefined, createDestination: v['create-destination'],
      packageInput: v['package-input']?.trim() || undefined, input, ...(hardware ? { hardware } : {}),
    });
  }
  for (const f of ['version', 'create-destination', 'package-input', 'input'] as const) {
    if (v[f] !== undefined) throw new UsageError(`--${f} is for a trainable model: give --model and --destination too`);
  }
  const profile = hardware?.trim().toLowerCase().replace(/^gpu-/, '');
  if (profile !== undefined && !(TRAINER_PROFILES as readonly string[]).includes(profile)) {
    throw new UsageError(`--hardware for Replicate's SimpleTuner trainer is one of ${TRAINER_PROFILES.join(', ')}, got "${hardware}" (e.g. --hardware h100-x2)`);
  }
  let steps: number | undefined;
  if (v['max-train-steps'] !== undefined) {
    steps = Number(v['max-train-steps']);
    if (!/^\d+$/.test(v['max-train-steps'].trim()) || !(steps > 0)) throw new UsageError(`--max-train-steps expects a whole number above 0, got "${v['max-train-steps']}" (e.g. --max-train-steps 500)`);
  }
  const version = v['trainer-version']?.trim();
  if (version !== undefined && !/^[a-f0-9]{8,64}$/.test(version)) throw new UsageError(`--trainer-version expects a version id (hex), got "${v['trainer-version']}"`);
  let data: DataRequest | undefined;
  if (v.data !== undefined) {
    try { data = parseDataFlag(v.data); } catch (e) { throw new UsageError((e as Error).message); }
  }
  let fallback: DataRequest | undefined;
  if (v['data-fallback'] !== undefined) {
    if (data && data.kind !== 'auto') throw new UsageError(`--data-fallback is for --data auto (the default), not --data ${v.data}`);
    try { fallback = parseDataFlag(v['data-fallback']); } catch (e) { throw new UsageError((e as Error).message.replace('--data expects', '--data-fallback expects')); }
    if (fallback.kind !== 's3' && fallback.kind !== 'hf') throw new UsageError(`--data-fallback expects s3://bucket/prefix or hf:owner/dataset, got "${v['data-fallback']}"`);
  }
  // The s3 flags describe the bucket route, whether asked for directly or as automatic's fallback.
  let s3 = data?.kind === 's3' ? data : fallback?.kind === 's3' ? fallback : undefined;
  const s3Only = (['data-endpoint', 'data-region', 'data-key', 'data-read-key', 'data-secret-env', 'data-read-secret-env'] as const).filter((f) => v[f] !== undefined);
  if (s3Only.length && !s3) throw new UsageError(`--${s3Only[0]} is for --data s3://bucket/prefix (or --data-fallback s3://bucket/prefix)`);
  if (s3) {
    if (v['data-endpoint'] !== undefined && !/^https?:\/\/[^\s/]+/.test(v['data-endpoint'])) throw new UsageError(`--data-endpoint expects a URL, got "${v['data-endpoint']}"`);
    if (v['data-key'] && !v['data-read-key']) throw new UsageError('--data-key needs --data-read-key: the trainer gets a read-only key, never your write key');
    if (!v['data-key'] && v['data-read-key']) throw new UsageError('--data-read-key needs --data-key (the key that uploads the datasets to your service)');
    for (const f of ['data-secret-env', 'data-read-secret-env'] as const) {
      if (v[f] !== undefined && !v['data-key']) throw new UsageError(`--${f} is for your own S3 service: give --data-key and --data-read-key too`);
    }
    if (v['data-key'] && v['data-key'] === v['data-read-key']) throw new UsageError('--data-read-key must be a separate read-only key, not --data-key itself: the trainer\'s key is visible in your Replicate account');
    s3 = drop({ ...s3, endpoint: v['data-endpoint'], region: v['data-region'], accessKeyId: v['data-key'], readAccessKeyId: v['data-read-key'] });
    if (data?.kind === 's3') data = s3;
    else fallback = s3;
  }
  if (fallback) data = { kind: 'auto', fallback: fallback as Extract<DataRequest, { kind: 's3' | 'hf' }> };
  const out = drop({ mode: 'trainer', profile, maxTrainSteps: steps, hubModelId: ref('hub-model-id'), trainerModel: ref('trainer-model'), trainerVersion: version, data });
  return Object.keys(out).length > 1 ? out : undefined;
}

/**
 * The secrets of `--data-key` / `--data-read-key`, read from the environment (default names above, or
 * the names given by `--data-secret-env` / `--data-read-secret-env`). Checked before anything is
 * packaged: a missing one is a UsageError (exit 2) naming the variable, never showing a value.
 */
export function dataSecretLookup(v: ReplicateFlags, env: NodeJS.ProcessEnv): SecretLookup | undefined {
  const write = v['data-key']?.trim();
  const read = v['data-read-key']?.trim();
  if (!write || !read) return undefined;
  const name = (flag: 'data-secret-env' | 'data-read-secret-env', fallback: string) => {
    const n = v[flag]?.trim() ?? fallback;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new UsageError(`--${flag} expects the name of an environment variable, got "${v[flag]}" (e.g. --${flag} MY_S3_SECRET)`);
    return n;
  };
  const pick = (flag: 'data-secret-env' | 'data-read-secret-env', fallback: string, key: string, role: string) => {
    const n = name(flag, fallback);
    const value = env[n];
    if (!value) throw new UsageError(`The secret of ${role} ${key} is read from the environment variable ${n}, which is not set (set it, or name another variable with --${flag})`);
    return value;
  };
  const secrets = new Map([[s3SecretName(write), pick('data-secret-env', DATA_SECRET_ENV, write, '--data-key')], [s3SecretName(read), pick('data-read-secret-env', DATA_READ_SECRET_ENV, read, '--data-read-key')]]);
  return async (n) => secrets.get(n);
}

function drop<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
}
