import { ReplicateProvider, ReplicateProviderDeps } from './provider';

/**
 * The Replicate provider as the CLI builds it: token from REPLICATE_API_TOKEN, API from
 * REPLICATE_BASE_URL (default Replicate's), HF token from HF_TOKEN, trainer model/version overrides
 * from REPLICATE_TRAINER_MODEL / REPLICATE_TRAINER_VERSION. Env is read on every call, never stored.
 */
export function replicateProviderFromEnv(env: NodeJS.ProcessEnv = process.env, extra: Partial<ReplicateProviderDeps> = {}): ReplicateProvider {
  return new ReplicateProvider({
    getToken: async () => env.REPLICATE_API_TOKEN,
    baseUrl: () => env.REPLICATE_BASE_URL,
    getHfToken: async () => env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN,
    trainerModel: () => env.REPLICATE_TRAINER_MODEL,
    trainerVersion: () => env.REPLICATE_TRAINER_VERSION,
    ...extra,
  });
}

export interface ReplicateCliFlags {
  /** trainer (default) | trainable */
  mode?: string;
  profile?: string;
  trainerModel?: string;
  trainerVersion?: string;
  maxTrainSteps?: string;
  hubModelId?: string;
  s3Bucket?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3BasePath?: string;
  model?: string;
  version?: string;
  destination?: string;
  createDestination?: boolean;
  packageInput?: string;
  hardware?: string;
  /** Repeated `--input key=value` (value parsed as JSON when it parses). */
  input?: string[];
  webhookUrl?: string;
}

/**
 * `cloudtrain submit --provider replicate …` flags + the package's training config and rewritten
 * dataloader → `SubmitRequest.options` (validated by the provider with ReplicateOptionsSchema).
 */
export function replicateOptionsFromFlags(flags: ReplicateCliFlags, pkg: { configJson: string; dataloaderJson: string }): Record<string, unknown> {
  const drop = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  if ((flags.mode ?? 'trainer') === 'trainable') {
    const input: Record<string, unknown> = {};
    for (const kv of flags.input ?? []) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new Error(`--input expects key=value, got "${kv}"`);
      const raw = kv.slice(i + 1);
      try { input[kv.slice(0, i)] = JSON.parse(raw); } catch { input[kv.slice(0, i)] = raw; }
    }
    return drop({
      mode: 'trainable', model: flags.model, version: flags.version, destination: flags.destination,
      createDestination: flags.createDestination, packageInput: flags.packageInput, hardware: flags.hardware, input, webhookUrl: flags.webhookUrl,
    });
  }
  return drop({
    mode: 'trainer',
    profile: flags.profile,
    trainerModel: flags.trainerModel,
    trainerVersion: flags.trainerVersion,
    configJson: pkg.configJson,
    dataloaderJson: pkg.dataloaderJson,
    maxTrainSteps: flags.maxTrainSteps === undefined ? undefined : Number(flags.maxTrainSteps),
    hubModelId: flags.hubModelId,
    s3: flags.s3Bucket ? drop({ bucket: flags.s3Bucket, endpointUrl: flags.s3Endpoint, region: flags.s3Region, basePath: flags.s3BasePath }) : undefined,
    webhookUrl: flags.webhookUrl,
  });
}
