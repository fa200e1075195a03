import type Replicate from 'replicate';
import type { Page } from 'replicate';
import type { Job, JobOutput } from '../../core/jobs/schema';
import type {
  CredentialCheck, HardwareOption, PlanDataContext, ProviderCapabilities, ProviderContext, RemoteJobSummary, StatusUpdate, SubmitRequest, SubmitResult, TrainingProvider,
} from '../../core/providers/types';
import { AccountSchema, ModelSchema, ReplicateRun, ReplicateVersion, RunSchema, VersionSchema, WebhookSecretSchema, pageOf } from './api';
import { ReplicateError, scrub, toReplicateError } from './errors';
import { hardwareLabel, parseHardware, trainerHardwareOptions, TRAINER_PROFILES, TrainerProfile } from './hardware';
import { checkInput } from './input-schema';
import { ReplicateMetadata, ReplicateOptionsSchema, TrainableOptions, TrainerOptions } from './options';
import { isActiveRun, mapStatus, runToUpdate } from './status';
import { Transport, TransportOptions } from './transport';
import { uploadPackage, type UploadResult } from './upload';
import { parseJsonObject, planTrainerData, PlanDetailsSchema, type RemoteRoutePlanner } from './plan';
import { lycorisConfig, schemaFacts, trainerInput } from './trainer-input';
import { S3DataRoute } from './remote-s3';
import { HfDataRoute } from './remote-hf';
import { DataRouteRefusedError, type DataPlan } from '../../core/submit/data-route';
import { REPLICATE_UPLOAD_LIMIT_BYTES } from './data-route';
import { formatBytes } from '../../core/format';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { planDestination, type PlanContext } from '../../core/destinations';
import { HF_TOKEN_SECRET, type SecretLookup } from '../../core/destinations/schema';
import { replicateWebhooks } from './webhook-capability';

export const DEFAULT_BASE_URL = 'https://api.replicate.com/v1';
export const DEFAULT_TRAINER_MODEL = 'simpletuner/advanced-trainer';

export interface ReplicateProviderDeps {
  /** SecretStorage in VS Code, REPLICATE_API_TOKEN in the CLI. Read on every call (it may change). */
  getToken(): Promise<string | undefined>;
  /** Setting `cloudTraining.replicate.baseUrl` / REPLICATE_BASE_URL. */
  baseUrl?: string | (() => string | undefined);
  /** HuggingFace token for hub publishing (SecretStorage / HF_TOKEN). Never stored. */
  getHfToken?(): Promise<string | undefined>;
  /** Settings `cloudTraining.replicate.trainerModel` / `trainerVersion`. */
  trainerModel?(): string | undefined;
  trainerVersion?(): string | undefined;
  /** Secret lookup for results destinations (SecretStorage / env) and the local endpoint, see core/destinations. */
  secrets?: SecretLookup;
  env?: NodeJS.ProcessEnv;
  localServer?(): PlanContext['localServer'];
  fetch?: typeof fetch;
  transport?: TransportOptions;
  /** How long one fetched prediction serves status() and fetchLogs() together. */
  cacheMs?: number;
  /** Look-ups after a create of unknown outcome. */
  lookupAttempts?: number;
  lookupDelayMs?: number;
  /** The remote-data route (S3): uploads datasets, mints read-only per-job credentials. */
  remoteData?: RemoteRoutePlanner;
  /** The Hub's base URL for the HuggingFace data route (default https://huggingface.co; tests use a stand-in). */
  hfEndpoint?(): string | undefined;
}

type Kind = 'prediction' | 'training';
const RunPage = pageOf(RunSchema);
const VersionPage = pageOf(VersionSchema);
/** Stands in for the package URL while checking inputs before the upload. */
const PLACEHOLDER_URL = 'https://upload.pending.invalid/package.zip';

/**
 * Replicate through the official `replicate` client, both ways to train:
 *  - SimpleTuner trainer models: a prediction on `<trainerModel>-<profile>` with config_json,
 *    dataloader_json (rewritten), images (the uploaded package) and publishing inputs;
 *  - trainable models: trainings.create(owner, name, version, {destination, input}).
 */
export class ReplicateProvider implements TrainingProvider {
  readonly id = 'replicate' as const;
  readonly displayName = 'Replicate';
  readonly capabilities: ProviderCapabilities = {
    costTracking: true, liveLogs: true, cancel: true, resume: false, webhooks: true, listRemote: true, uploadsData: true,
  };
  readonly webhooks = replicateWebhooks(this);
  readonly transport: Transport;
  private readonly cache = new Map<string, { at: number; run: ReplicateRun; kind: Kind; fresh?: number }>();
  private lastToken: string | undefined;

  constructor(private readonly deps: ReplicateProviderDeps) {
    this.transport = new Transport({ ...deps.transport, fetch: deps.fetch ?? deps.transport?.fetch });
    // The S3 data route uploads with the same secrets and the same local endpoint as results delivery.
    this.deps = { ...deps, remoteData: deps.remoteData ?? new S3DataRoute({ localServer: deps.localServer, secrets: deps.secrets }) };
    this.hfRoute = new HfDataRoute({ getHfToken: async () => (await deps.getHfToken?.())?.trim() || (await deps.secrets?.(HF_TOKEN_SECRET)) || undefined, endpoint: deps.hfEndpoint });
  }

  private readonly hfRoute: HfDataRoute;

  get baseUrl(): string {
    const b = typeof this.deps.baseUrl === 'function' ? this.deps.baseUrl() : this.deps.baseUrl;
    return (b?.trim() || DEFAULT_BASE_URL).replace(/\/+$/, '');
  }

  private async client(): Promise<Replicate> {
    const token = (await this.deps.getToken())?.trim();
    if (!token) throw new ReplicateError('No Replicate API token. Run "Cloud Training: Set Replicate API Token" or set REPLICATE_API_TOKEN.');
    this.lastToken = token;
    // Required here, not at the top: the client's module is evaluated on first use, not at activation.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('replicate') as typeof Replicate & { default?: typeof Replicate };
    const Client = mod.default ?? mod; // CommonJS: the class itself (with .default on some builds)
    return new Client({ auth: token, baseUrl: this.baseUrl, fetch: this.transport.fetch, userAgent: 'cloud-training-vscode' });
  }

  private err(e: unknown, what: string): ReplicateError {
    return toReplicateError(e, what, [this.lastToken], this.baseUrl);
  }

  async validateCredentials(signal?: AbortSignal): Promise<CredentialCheck> {
    try {
      const client = await this.client();
      const account = AccountSchema.parse(await client.accounts.current({ signal }));
      return { ok: true, account: account.username, message: `Signed in to Replicate as ${account.username}` };
    } catch (e) {
      return { ok: false, message: this.err(e, 'Checking the Replicate token').message };
    }
  }

  async listHardware(): Promise<HardwareOption[]> {
    return trainerHardwareOptions();
  }

  // ---------------------------------------------------------------- submit

  async submit(job: Job, request: SubmitRequest, ctx: ProviderContext): Promise<SubmitResult> {
    const parsed = ReplicateOptionsSchema.safeParse(request.options ?? {});
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new ReplicateError(`Replicate submit options are invalid: ${i?.path.join('.') || '(root)'} ${i?.message ?? ''}`.trim());
    }
    if (!request.packagePath) throw new ReplicateError('Replicate needs a package to upload (packagePath is missing).');
    try {
      return parsed.data.mode === 'trainer'
        ? await this.submitTrainer(job, request, parsed.data, ctx)
        : await this.submitTrainable(job, request, parsed.data, ctx);
    } catch (e) {
      throw this.err(e, 'Submitting to Replicate');
    }
  }

  /** Trainer mode: how the data reaches SimpleTuner's Replicate trainer (plan.ts); trainable models take the package as it is. */
  async planData(request: SubmitRequest, ctx: PlanDataContext): Promise<DataPlan | undefined> {
    const parsed = ReplicateOptionsSchema.safeParse(request.options ?? {});
    if (!parsed.success || !request.packagePath) return undefined;
    if (parsed.data.mode === 'trainable') {
      // The package goes up as it is: only its size can stop it, and it must stop here, before consent and upload.
      await checkUploadSize(request.packagePath, parsed.data.model);
      return undefined;
    }
    return planTrainerData(parsed.data, request.packagePath, request.packageId, ctx, this.deps.remoteData, this.hfRoute);
  }

  private async submitTrainer(job: Job, request: SubmitRequest, o: TrainerOptions, ctx: ProviderContext): Promise<SubmitResult> {
    const client = await this.client();
    const signal = ctx.signal;
    const requested = request.hardware?.trim().toLowerCase().replace(/^gpu-/, '') as TrainerProfile | undefined;
    if (!o.profile && requested && !TRAINER_PROFILES.includes(requested)) {
      throw new ReplicateError(`Replicate's SimpleTuner trainers run on ${TRAINER_PROFILES.join(', ')}; "${request.hardware}" is not one of them.`);
    }
    const profile: TrainerProfile = o.profile ?? requested ?? 'l40s';
    const base = o.trainerModel ?? this.deps.trainerModel?.()?.trim() ?? DEFAULT_TRAINER_MODEL;
    const model = `${base || DEFAULT_TRAINER_MODEL}-${profile}`;
    const [owner, name] = model.split('/') as [string, string];
    ctx.report?.(`Reading ${model} from Replicate`);
    const version = await this.resolveVersion(client, owner, name, o.trainerVersion ?? (this.deps.trainerVersion?.()?.trim() || undefined), signal);

    // The route agreed to in consent; a direct call (no pipeline) decides it here, still before any upload.
    const plan = request.dataPlan ?? await this.planData(request, { cacheDir: path.join(ctx.dataHome, 'cache'), signal, report: ctx.report });
    if (!plan) throw new ReplicateError('No data plan for the SimpleTuner trainer.');
    const details = PlanDetailsSchema.parse(plan.details);
    const training = parseJsonObject(details.configJson, 'The training config');
    const publish = await this.publishingInputs(o, job.id);
    const input = trainerInput({
      schema: schemaFacts(version.openapi_schema), plan: details, training, maxTrainSteps: o.maxTrainSteps,
      lycoris: await lycorisConfig(training, request.trainingConfigPath, request.cwd), publish: publish.input,
    });
    this.check(model, version, 'Input', input, publish.secrets);
    const secrets = [...publish.secrets];
    if (details.route === 'remote-s3') {
      // After consent: the datasets go to the bucket (unless already there) and the trainer's read-only keys are made.
      if (!this.deps.remoteData) throw new ReplicateError('The S3 data route is not available here.');
      const remote = this.deps.remoteData;
      // Keys minted before a failure (or a cancel) part-way must not outlive the submission that never happened.
      const prepared = await remote.prepare(details.remote, details.dataloaderJson, request.packagePath!, job.id, ctx)
        .catch(async (e: unknown) => { await remote.revoke(job.id).catch(() => undefined); throw e; });
      input.dataloader_json = prepared.dataloaderJson;
      secrets.push(...prepared.secrets);
    }
    if (details.route === 'remote-hf') {
      // After consent: one commit to the private dataset repo; the trainer reads it with the job's hf_token (a Cog Secret).
      const prepared = await this.hfRoute.prepare(details.remote, details.dataloaderJson, request.packagePath!, ctx);
      input.dataloader_json = prepared.dataloaderJson;
      input.hf_token = prepared.token;
      secrets.push(prepared.token);
    }

    const hardware = hardwareLabel(parseHardware(profile));
    let upload: UploadResult | undefined;
    if (plan.upload) {
      upload = await uploadPackage(client, { path: plan.upload.path, sha256: plan.upload.sha256, jobId: job.id, signal, report: ctx.report });
      input.images = upload.file.urls.get;
    }
    const webhook = o.webhookUrl ? withJob(o.webhookUrl, job.id) : undefined;

    ctx.report?.(`Starting ${model}`);
    const create = () => this.createOnce('prediction', fingerprint(version.id, input), ctx,
      async () => RunSchema.parse(await client.predictions.create({
        version: version.id, input, signal,
        ...(webhook ? { webhook, webhook_events_filter: ['start', 'logs', 'completed'] as const } : {}),
      } as Parameters<Replicate['predictions']['create']>[0])));
    let run: ReplicateRun;
    try {
      run = upload ? await this.dropUploadIfNotCreated(client, upload, ctx, create) : await create();
    } catch (e) {
      const err = this.err(e, 'Creating the job');
      // Certainly not created: the read keys minted for it go now (unknown outcome: the job may exist and need them).
      if (details.route === 'remote-s3' && !err.unknownOutcome) await this.deps.remoteData?.revoke(job.id).catch(() => undefined);
      throw new ReplicateError(scrub(err.message, secrets), err.status, err.transient, err.unknownOutcome);
    }
    const metadata: ReplicateMetadata = {
      replicateKind: 'prediction', replicateModel: model, replicateVersion: version.id, replicateHardware: hardware,
      dataRoute: plan.summary.route,
      ...(upload ? {
        uploadFileId: upload.file.id, uploadUrl: upload.file.urls.get, uploadReused: upload.reused, uploadSha256: upload.sha256, packageInput: 'images',
      } : {}),
      ...(request.packageId ? { packageId: request.packageId } : {}),
      ...(publish.output ? { replicateResultsOutput: publish.output } : {}),
    };
    return this.result(run, metadata);
  }

  private async submitTrainable(job: Job, request: SubmitRequest, o: TrainableOptions, ctx: ProviderContext): Promise<SubmitResult> {
    const client = await this.client();
    const signal = ctx.signal;
    const [owner, name] = o.model.split('/') as [string, string];
    let versionId = o.version;
    if (!versionId) {
      const m = ModelSchema.parse(await client.models.get(owner, name, { signal }).catch((e) => { throw this.err(e, `Reading model ${o.model}`); }));
      versionId = m.latest_version?.id;
      if (!versionId) throw new ReplicateError(`Model ${o.model} has no version to train.`);
    }
    const version = await this.resolveVersion(client, owner, name, versionId, signal);
    await this.ensureDestination(client, o, ctx);

    const input: Record<string, unknown> = { ...o.input, [o.packageInput]: PLACEHOLDER_URL };
    const schema = hasComponent(version.openapi_schema, 'TrainingInput') ? 'TrainingInput' : 'Input';
    this.check(o.model, version, schema, input, []);
    await checkUploadSize(request.packagePath!, o.model);
    // The file's checksum metadata is the zip's own sha256 (request.packageId is the manifest's).
    const upload = await uploadPackage(client, { path: request.packagePath!, jobId: job.id, signal, report: ctx.report });
    input[o.packageInput] = upload.file.urls.get;
    const webhook = o.webhookUrl ? withJob(o.webhookUrl, job.id) : undefined;

    ctx.report?.(`Starting training of ${o.model} into ${o.destination}`);
    const run = await this.dropUploadIfNotCreated(client, upload, ctx, () => this.createOnce('training', fingerprint(version.id, input, [o.packageInput]), ctx,
      async () => RunSchema.parse(await client.trainings.create(owner, name, version.id, {
        destination: o.destination as `${string}/${string}`, input, signal,
        ...(webhook ? { webhook, webhook_events_filter: ['start', 'logs', 'completed'] as const } : {}),
      } as Parameters<Replicate['trainings']['create']>[3]))));
    const metadata: ReplicateMetadata = {
      replicateKind: 'training', replicateModel: o.model, replicateVersion: version.id, replicateHardware: o.hardware,
      replicateDestination: o.destination, uploadFileId: upload.file.id, uploadUrl: upload.file.urls.get, uploadReused: upload.reused,
      uploadSha256: upload.sha256, packageInput: o.packageInput, ...(request.packageId ? { packageId: request.packageId } : {}),
    };
    return this.result(run, metadata);
  }

  /**
   * A job that was certainly not created leaves no orphaned upload behind (unless an earlier job's
   * upload was reused). When the outcome is unknown the file stays: the job may exist and need it.
   */
  private async dropUploadIfNotCreated(client: Replicate, upload: { file: { id: string }; reused: boolean }, ctx: ProviderContext, create: () => Promise<ReplicateRun>): Promise<ReplicateRun> {
    try {
      return await create();
    } catch (e) {
      const err = this.err(e, 'Creating the job');
      if (!upload.reused && !err.unknownOutcome) {
        await client.files.delete(upload.file.id).then(
          () => ctx.log?.(`Deleted the uploaded package ${upload.file.id}: no job was created`),
          () => ctx.log?.(`Could not delete the uploaded package ${upload.file.id}`),
        );
      }
      throw e;
    }
  }

  private result(run: ReplicateRun, metadata: ReplicateMetadata): SubmitResult {
    this.cache.set(run.id, { at: Date.now(), run, kind: metadata.replicateKind });
    return {
      providerJobId: run.id,
      status: mapStatus(run.status),
      providerStatus: run.status,
      startedAt: run.started_at ?? undefined,
      metadata: { ...metadata },
    };
  }

  /** The trainer's publishing inputs (secrets included: they go to Replicate only, never to our records). */
  private async publishingInputs(o: TrainerOptions, jobId: string): Promise<{ input: Record<string, unknown>; secrets: string[]; output?: JobOutput }> {
    const results = o.results ?? (o.hubModelId ? { kind: 'huggingface' as const, repoId: o.hubModelId, private: true, revision: 'main', endpoint: 'https://huggingface.co' } : undefined);
    if (results) {
      const secrets: SecretLookup = async (name) => (name === HF_TOKEN_SECRET ? (await this.deps.getHfToken?.())?.trim() || undefined : undefined) ?? this.deps.secrets?.(name);
      let plan;
      try {
        plan = await planDestination(results, { jobId, secrets, env: this.deps.env ?? process.env, localServer: this.deps.localServer?.() });
      } catch (e) {
        throw new ReplicateError(`Results destination: ${(e as Error).message}`);
      }
      const s = plan.settings;
      const input: Record<string, unknown> = plan.destination.kind === 'huggingface'
        ? { hub_model_id: s.hub_model_id, hf_token: plan.env.HF_TOKEN }
        : {
            s3_bucket: s.s3_bucket, s3_base_path: s.s3_prefix, s3_region: plan.env.AWS_DEFAULT_REGION, s3_endpoint_url: s.s3_endpoint_url,
            s3_access_key: plan.env.AWS_ACCESS_KEY_ID, s3_secret_key: plan.env.AWS_SECRET_ACCESS_KEY,
          };
      return { input, secrets: [...plan.secretValues, plan.env.AWS_ACCESS_KEY_ID].filter((v): v is string => !!v), output: plan.output };
    }
    if (o.s3) {
      return { input: { s3_bucket: o.s3.bucket, s3_region: o.s3.region, s3_endpoint_url: o.s3.endpointUrl, s3_base_path: o.s3.basePath, s3_public_base_url: o.s3.publicBaseUrl }, secrets: [] };
    }
    return { input: {}, secrets: [] };
  }

  /** Pinned version (GET …/versions/{id}) or the newest (GET …/versions, newest first). */
  private async resolveVersion(client: Replicate, owner: string, name: string, pinned: string | undefined, signal?: AbortSignal): Promise<ReplicateVersion> {
    const ref = `${owner}/${name}`;
    try {
      if (pinned) return VersionSchema.parse(await client.models.versions.get(owner, name, pinned, { signal }));
      const page = VersionPage.parse(await client.models.versions.list(owner, name, { signal }));
      const newest = [...page.results].sort((a, b) => Date.parse(b.created_at ?? '') - Date.parse(a.created_at ?? ''))[0];
      if (!newest) throw new ReplicateError(`Model ${ref} has no versions on Replicate.`);
      return newest;
    } catch (e) {
      const err = this.err(e, pinned ? `Reading version ${pinned} of ${ref}` : `Reading the versions of ${ref}`);
      if (err.status === 404) throw new ReplicateError(pinned ? `Version ${pinned} of model ${ref} was not found on Replicate.` : `Model ${ref} was not found on Replicate.`, 404);
      throw err;
    }
  }

  /** Validate against the version's schema before anything is uploaded or started. */
  private check(model: string, version: ReplicateVersion, component: 'Input' | 'TrainingInput', input: Record<string, unknown>, secrets: (string | undefined)[]): void {
    const check = checkInput(version.openapi_schema, component, input);
    if (!check.ok) {
      throw new ReplicateError(scrub(`The inputs do not match ${model} (version ${version.id.slice(0, 12)}): ${check.problems.join('; ')}. Nothing was uploaded or started.`, secrets), 422);
    }
  }

  private async ensureDestination(client: Replicate, o: TrainableOptions, ctx: ProviderContext): Promise<void> {
    const [owner, name] = o.destination.split('/') as [string, string];
    try {
      await client.models.get(owner, name, { signal: ctx.signal });
      return;
    } catch (e) {
      const err = this.err(e, `Checking destination ${o.destination}`);
      if (err.status !== 404) throw err;
    }
    const create = o.createDestination ?? (ctx.prompter
      ? await ctx.prompter.confirm(`The destination model ${o.destination} does not exist on Replicate. Create it (${o.destinationVisibility})?`, 'Trainings write their result as a new version of the destination model.')
      : false);
    if (!create) throw new ReplicateError(`The destination model ${o.destination} does not exist on Replicate. Create it on replicate.com, or allow creating it (option createDestination).`, 404);
    try {
      await client.models.create(owner, name, { visibility: o.destinationVisibility, hardware: 'cpu', signal: ctx.signal });
      ctx.log?.(`Created destination model ${o.destination}`);
    } catch (e) {
      throw this.err(e, `Creating destination model ${o.destination}`);
    }
  }

  /**
   * Create exactly once. The client does not retry a POST on 5xx, and a dropped connection or a 5xx
   * may come *after* Replicate created the job: look for it before ever creating again. The look-up
   * uses only what Replicate keeps of every prediction (https://replicate.com/docs/topics/predictions:
   * version, input, created_at): the version, the declared inputs that make this job unique (the exact
   * uploaded file URL, config and dataloader) and a creation time after our first request by
   * Replicate's own clock. No marker input: Cog drops inputs a model does not declare, so an echo of
   * one is not guaranteed (see test "never two predictions" with both stand-in behaviours).
   */
  private async createOnce(kind: Kind, fp: Fingerprint, ctx: ProviderContext, create: () => Promise<ReplicateRun>): Promise<ReplicateRun> {
    // Replicate's clock (Date header of its last answer), minus its 1 s resolution and a margin.
    const since = Date.now() + this.transport.serverOffsetMs - 3000;
    let last: ReplicateError | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return await create();
      } catch (e) {
        last = this.err(e, `Creating the ${kind}`);
        if (!last.unknownOutcome || ctx.signal?.aborted) throw last;
        ctx.log?.(`${last.message}; checking whether Replicate created it before trying again`);
        ctx.report?.('Replicate did not answer clearly; checking whether the job was created');
        const found = await this.lookup(kind, (r) => matchRun(r, fp, since), ctx.signal);
        if (found === 'unknown') {
          throw new ReplicateError(`${last.message}. Could not confirm whether the ${kind} was created; check replicate.com before submitting again.`, last.status, true, true);
        }
        if (found) {
          ctx.log?.(`Found the ${kind} ${found.id} created by the unanswered request; not creating another`);
          return found;
        }
      }
    }
    throw last!;
  }

  /**
   * Recent predictions/trainings matching `match`; 'unknown' when the list itself cannot be read. A
   * 'maybe' (list entries need not carry the input) is settled by reading that run in full.
   */
  private async lookup(kind: Kind, match: (r: ReplicateRun) => boolean | 'maybe', signal?: AbortSignal): Promise<ReplicateRun | undefined | 'unknown'> {
    const attempts = this.deps.lookupAttempts ?? 3;
    let listed = false;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await delay(this.deps.lookupDelayMs ?? 1000, signal);
      try {
        const client = await this.client();
        let pages = 0;
        const list = (kind === 'prediction' ? () => client.predictions.list({ signal }) : () => client.trainings.list({ signal })) as () => Promise<Page<unknown>>;
        for await (const page of client.paginate<unknown>(list, { signal })) {
          for (const r of RunPage.shape.results.parse(page)) {
            const m = match(r);
            if (m === true) return r;
            if (m === 'maybe') {
              const full = RunSchema.parse(kind === 'prediction' ? await client.predictions.get(r.id, { signal }) : await client.trainings.get(r.id, { signal }));
              if (match(full) === true) return full;
            }
          }
          if (++pages >= 3) break;
        }
        listed = true;
        // A missing job may only be missing for now (eventual consistency): look twice.
        if (i >= 1) return undefined;
      } catch {
        /* try again */
      }
    }
    return listed ? undefined : 'unknown';
  }

  // ---------------------------------------------------------------- tracking

  private meta(job: Job): Partial<ReplicateMetadata> {
    return job.metadata as Partial<ReplicateMetadata>;
  }

  /** The job's prediction/training, fetched at most once per `cacheMs` for status() + fetchLogs(). */
  private async fetchRun(job: Job, signal?: AbortSignal): Promise<{ run: ReplicateRun; kind: Kind } | undefined> {
    const id = job.providerJobId;
    if (!id) return undefined;
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < (hit.fresh ?? this.deps.cacheMs ?? 1000)) return hit;
    const client = await this.client();
    const kinds: Kind[] = this.meta(job).replicateKind ? [this.meta(job).replicateKind!] : ['prediction', 'training'];
    for (const kind of kinds) {
      try {
        const raw = kind === 'prediction' ? await client.predictions.get(id, { signal }) : await client.trainings.get(id, { signal });
        const entry = { at: Date.now(), run: RunSchema.parse(raw), kind };
        this.cache.set(id, entry);
        return entry;
      } catch (e) {
        const err = this.err(e, `Reading ${kind} ${id}`);
        if (err.status === 404) continue;
        throw this.reconnecting(err);
      }
    }
    return undefined;
  }

  /** Transient failures become a "reconnecting" error: the monitor shows it and backs off. */
  private reconnecting(err: ReplicateError): ReplicateError {
    if (!err.transient) return err;
    const wait = this.transport.waitMs();
    const why = this.transport.lastThrottle?.reason;
    const suffix = wait > 0 ? ` — ${why ?? 'waiting'}, next try in ${Math.ceil(wait / 1000)} s` : '';
    return new ReplicateError(`reconnecting to Replicate (${err.message})${suffix}`, err.status, true);
  }

  private runContext(job: Job, kind: Kind, run: ReplicateRun) {
    const m = this.meta(job);
    return {
      kind,
      hardware: m.replicateHardware ?? hardwareFromModel(run.model ?? m.replicateModel),
      destination: m.replicateDestination ?? run.destination ?? undefined,
      cancelRequested: !!job.cancelRequestedAt,
      resultsOutput: m.replicateResultsOutput,
    };
  }

  async status(job: Job, ctx: ProviderContext): Promise<StatusUpdate> {
    const got = await this.fetchRun(job, ctx.signal);
    if (!got) {
      return job.cancelRequestedAt
        ? { status: 'cancelled', statusDetail: 'No longer on Replicate' }
        : { status: 'failed', error: `The job ${job.providerJobId ?? ''} no longer exists on Replicate`.trim() };
    }
    const update = runToUpdate(got.run, this.runContext(job, got.kind, got.run));
    if (!this.meta(job).replicateKind) update.metadata = { ...update.metadata, replicateKind: got.kind, replicateModel: got.run.model ?? undefined };
    return update;
  }

  /**
   * Bytes of the run's `logs` text from `offset`. While the job runs only whole lines are returned (a
   * half-written line comes complete next time), so the mirror and the output channel never see a
   * line twice or in pieces.
   */
  async fetchLogs(job: Job, offset: number, ctx: ProviderContext): Promise<Buffer | null> {
    const got = await this.fetchRun(job, ctx.signal);
    if (!got) return Buffer.alloc(0);
    const buf = Buffer.from(got.run.logs ?? '', 'utf8');
    const end = isActiveRun(got.run.status) ? buf.lastIndexOf(0x0a) + 1 : buf.length;
    if (offset >= end) return Buffer.alloc(0);
    return buf.subarray(offset, end);
  }

  /** A Replicate webhook payload (already verified by the receiver) → the job's update; primes the cache. */
  handleWebhook(job: Job, payload: unknown): StatusUpdate {
    const run = RunSchema.parse(payload);
    if (job.providerJobId && run.id !== job.providerJobId) throw new ReplicateError(`Webhook for ${run.id} does not belong to job ${job.id}`);
    const kind: Kind = this.meta(job).replicateKind ?? (run.destination !== undefined || isTrainingOutput(run.output) ? 'training' : 'prediction');
    // Deliveries can arrive out of order: never let a late "logs" event replace the final state.
    const cached = this.cache.get(run.id);
    // A pushed state is as good as a poll for a few seconds: the log sync that follows needs no request.
    if (!(cached && !isActiveRun(cached.run.status) && isActiveRun(run.status))) this.cache.set(run.id, { at: Date.now(), run, kind, fresh: Math.max(this.deps.cacheMs ?? 1000, 3000) });
    return runToUpdate(run, this.runContext(job, kind, run));
  }

  /** The account's default webhook signing secret (`whsec_…`), for the local receiver. */
  async webhookSecret(signal?: AbortSignal): Promise<string> {
    try {
      const client = await this.client();
      return WebhookSecretSchema.parse(await client.webhooks.default.secret.get({ signal })).key;
    } catch (e) {
      throw this.err(e, 'Reading the webhook signing secret');
    }
  }

  async cancel(job: Job, ctx: ProviderContext): Promise<void> {
    const id = job.providerJobId;
    if (!id) return;
    const client = await this.client();
    const kind = this.meta(job).replicateKind ?? 'prediction';
    try {
      const raw = kind === 'prediction' ? await client.predictions.cancel(id, { signal: ctx.signal }) : await client.trainings.cancel(id, { signal: ctx.signal });
      const run = RunSchema.safeParse(raw);
      if (run.success) this.cache.set(id, { at: Date.now(), run: run.data, kind });
      else this.cache.delete(id);
    } catch (e) {
      const err = this.err(e, `Cancelling ${kind} ${id}`);
      this.cache.delete(id);
      if (err.status === 404) return; // already gone: nothing left to stop
      throw err;
    }
  }

  /** Delete the uploaded package (the seed's promise that data is removed after training). */
  async finalize(job: Job, ctx: ProviderContext): Promise<Partial<Pick<Job, 'outputs' | 'metadata' | 'cost'>>> {
    const m = this.meta(job);
    if (job.providerJobId) this.cache.delete(job.providerJobId);
    let revoked: Record<string, unknown> = {};
    if (m.dataRoute === 'remote-s3' && !m.dataKeysRevoked && this.deps.remoteData) {
      // The trainer's read-only dataset keys end with the job, not at their expiry.
      await this.deps.remoteData.revoke(job.id);
      ctx.log?.('Revoked the trainer\'s read-only dataset keys');
      revoked = { dataKeysRevoked: true };
    }
    if (!m.uploadFileId || m.uploadDeleted) return Object.keys(revoked).length ? { metadata: revoked } : {};
    const client = await this.client();
    // Another active job submitted with the same package (reused upload) still needs the file.
    const users = await this.lookup('prediction', (r) => r.id !== job.providerJobId && isActiveRun(r.status) && Object.values(r.input ?? {}).includes(m.uploadUrl), ctx.signal)
      .then((p) => (p && p !== 'unknown' ? p : this.lookup('training', (r) => r.id !== job.providerJobId && isActiveRun(r.status) && Object.values(r.input ?? {}).includes(m.uploadUrl), ctx.signal)));
    if (users && users !== 'unknown') {
      ctx.log?.(`Keeping the uploaded package: ${users.id} still uses it`);
      return { metadata: { ...revoked, uploadKeptFor: users.id } };
    }
    try {
      await client.files.delete(m.uploadFileId, { signal: ctx.signal });
    } catch (e) {
      const err = this.err(e, `Deleting uploaded package ${m.uploadFileId}`);
      if (err.status !== 404) throw err;
    }
    ctx.log?.(`Deleted the uploaded package ${m.uploadFileId} from Replicate`);
    return { metadata: { ...revoked, uploadDeleted: true } };
  }

  async listRemote(limit: number, ctx: ProviderContext): Promise<RemoteJobSummary[]> {
    const client = await this.client();
    const out: RemoteJobSummary[] = [];
    try {
      for (const kind of ['prediction', 'training'] as const) {
        const page = RunPage.parse(kind === 'prediction' ? await client.predictions.list({ signal: ctx.signal }) : await client.trainings.list({ signal: ctx.signal }));
        for (const r of page.results) {
          out.push({
            providerJobId: r.id,
            status: mapStatus(r.status),
            createdAt: r.created_at ?? new Date(0).toISOString(),
            name: `${kind === 'training' ? 'training' : 'prediction'} ${r.model ?? r.version?.slice(0, 12) ?? r.id}`,
            hardware: hardwareFromModel(r.model ?? undefined),
          });
        }
      }
    } catch (e) {
      throw this.err(e, 'Listing Replicate jobs');
    }
    return out.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)).slice(0, limit);
  }

  dispose(): void {
    this.cache.clear();
  }
}

/** Replicate's Files API takes up to 100 MiB (as SimpleTuner documents it): refuse before uploading, never a bare 413. */
async function checkUploadSize(file: string, model: string): Promise<void> {
  const { size } = await fs.stat(file);
  if (size > REPLICATE_UPLOAD_LIMIT_BYTES) {
    throw new DataRouteRefusedError([`The package for ${model} is ${formatBytes(size)}; Replicate's Files API accepts up to 100 MiB.`], [
      'make the dataset smaller (fewer or smaller images), or train with the SimpleTuner trainer, whose S3 route has no such limit.',
    ]);
  }
}

/** The version and the non-secret inputs that tell this job apart (file URL, configs). */
export interface Fingerprint { version: string; inputs: Record<string, string> }

const FINGERPRINT_KEYS = ['images', 'config_json', 'dataloader_json', 'input_images'];

export function fingerprint(version: string, input: Record<string, unknown>, extraKeys: string[] = []): Fingerprint {
  const inputs: Record<string, string> = {};
  for (const k of [...FINGERPRINT_KEYS, ...extraKeys]) if (typeof input[k] === 'string') inputs[k] = input[k] as string;
  return { version, inputs };
}

/** true: this is our run; 'maybe': right version and time, input not in this (list) view; false: not ours. */
export function matchRun(r: ReplicateRun, fp: Fingerprint, since: number): boolean | 'maybe' {
  if (r.version !== fp.version || !(Date.parse(r.created_at ?? '') >= since)) return false;
  if (!r.input) return 'maybe';
  return Object.entries(fp.inputs).every(([k, v]) => r.input![k] === v);
}

/** `simpletuner/advanced-trainer-h100-x2` → gpu-h100-x2 (used for imported jobs). */
export function hardwareFromModel(model: string | undefined): string | undefined {
  const m = /-(l40s|h100)(-x\d+)?$/.exec(model ?? '');
  return m ? hardwareLabel(parseHardware(`${m[1]}${m[2] ?? ''}`)) : undefined;
}

function hasComponent(openapi: unknown, name: string): boolean {
  return !!(openapi as { components?: { schemas?: Record<string, unknown> } } | undefined)?.components?.schemas?.[name];
}

function isTrainingOutput(o: unknown): boolean {
  return !!o && typeof o === 'object' && ('weights' in o || 'version' in o);
}

function withJob(url: string, jobId: string): string {
  const u = new URL(url);
  u.searchParams.set('job', jobId);
  return u.toString();
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
  });
}
