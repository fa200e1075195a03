import path from 'node:path';
import type { Job, JobOutput, JobStatus, Progress } from '../../core/jobs/schema';
import { parseFinetuneOptions, providerMarker, type FinetuneOptions } from '../../core/finetune/options';
import type {
  CredentialCheck, FinalizeResult, HardwareOption, ProviderCapabilities, ProviderContext, RemoteJobSummary, StatusUpdate,
  SubmitRequest, SubmitResult, TrainingProvider,
} from '../../core/providers/types';
import { assertDatasetsValid, errorMessage, outputDirFor, sliceLog, uploadsOf, type UploadRecord } from '../managed-finetune';
import { TogetherApi, TogetherApiError, type CreateFineTune, type PriceEstimate, type TogetherEvent, type TogetherJob, type TogetherJobStatus } from './api';
import { PriceAboveLimitError } from '../../core/cost/limits';
import type { ProviderPrice } from '../../core/cost/provider-price';
import { sleep } from '../streamed-http';

export interface TogetherProviderDeps {
  /** SecretStorage in the editor, TOGETHER_API_KEY in the CLI. Read on every call (it may change). */
  getApiKey(): Promise<string | undefined>;
  /** TOGETHER_BASE_URL / setting; default Together's public API. */
  baseUrl?: () => string | undefined;
  timeoutMs?: number;
  /** Longest Retry-After honoured on a create (tests shorten it). */
  maxRetryAfterMs?: number;
  /** How long one retrieved job serves status() and finalize() together. */
  cacheMs?: number;
  /** estimate-price asks while Together still validates an uploaded file (default 6, 1 s apart). */
  estimateAttempts?: number;
  estimateRetryMs?: number;
}


/** Our state for each of Together's (https://docs.together.ai/reference/get-fine-tunes-id, `status`). */
export function mapTogetherStatus(s: TogetherJobStatus): JobStatus {
  switch (s) {
    case 'pending': case 'queued': return 'queued';
    case 'running': case 'compressing': case 'uploading': case 'cancel_requested': return 'running';
    case 'completed': return 'succeeded';
    case 'cancelled': return 'cancelled';
    case 'error': return 'failed';
  }
}

const DETAIL: Partial<Record<TogetherJobStatus, string>> = {
  pending: 'waiting at Together', queued: 'queued at Together', compressing: 'compressing the trained model',
  uploading: 'storing the trained model', cancel_requested: 'cancel requested',
};

/** One line per event, from the event's own fields only, so the text is the same on every fetch. */
export function renderTogetherEvents(events: TogetherEvent[]): string {
  return events.map((e) => `${e.created_at} ${e.level ?? 'info'} ${e.type}: ${e.message.replace(/\r?\n/g, ' ')}\n`).join('');
}

const LOSS = /\bloss\b[^0-9-]{0,12}(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)/i;

export function progressOf(j: TogetherJob): Progress {
  const p: Progress = {};
  const stepped = [...(j.events ?? [])].reverse().find((e) => typeof e.step === 'number');
  if (stepped?.step !== undefined) {
    p.step = stepped.step;
    if (stepped.total_steps) { p.totalSteps = stepped.total_steps; p.percent = Math.min(100, Math.round((stepped.step / stepped.total_steps) * 1000) / 10); }
  }
  if (j.n_epochs) { p.totalEpochs = j.n_epochs; p.epoch = j.epochs_completed ?? 0; }
  const withLoss = [...(j.events ?? [])].reverse().find((e) => LOSS.test(e.message));
  if (withLoss) p.loss = Number(LOSS.exec(withLoss.message)![1]);
  if (j.progress?.estimate_available) p.etaSeconds = Math.max(0, j.progress.seconds_remaining);
  if (j.status === 'completed') { p.percent = 100; p.etaSeconds = 0; }
  return p;
}

/** Together's reason for a failed job: its last error event (or an `error` field some versions add). */
export function togetherError(j: TogetherJob): string {
  const loose = (j as Record<string, unknown>).error;
  if (typeof loose === 'string' && loose) return loose;
  const ev = [...(j.events ?? [])].reverse().find((e) => e.level === 'error' || /error|fail/i.test(e.type));
  return ev?.message ?? 'Together reported the job as failed without a message';
}

/**
 * Together AI managed fine-tuning (LoRA or full, SFT or DPO) through its official SDK: upload the JSONL
 * (reused by sha256), create the job under the suffix `ct-<our job id>` (looked up after a lost create),
 * follow status and events, cancel, and at the end record the model, download the LoRA adapter and
 * delete the uploaded files unless kept.
 */
export class TogetherProvider implements TrainingProvider {
  readonly id = 'together' as const;
  readonly displayName = 'Together AI';
  readonly capabilities: ProviderCapabilities = {
    costTracking: true, liveLogs: true, cancel: true, resume: true, webhooks: false, listRemote: true, uploadsData: true,
  };
  private readonly cache = new Map<string, { at: number; job: TogetherJob }>();

  constructor(private readonly deps: TogetherProviderDeps) {}

  private async api(): Promise<TogetherApi> {
    const apiKey = (await this.deps.getApiKey())?.trim();
    if (!apiKey) throw new TogetherApiError('No Together API key. Set TOGETHER_API_KEY (CLI) or run "Cloud Training: Set Together API Key" (editor).');
    return new TogetherApi({ apiKey, baseUrl: this.deps.baseUrl?.(), timeoutMs: this.deps.timeoutMs, maxRetryAfterMs: this.deps.maxRetryAfterMs });
  }

  async validateCredentials(signal?: AbortSignal): Promise<CredentialCheck> {
    try {
      await (await this.api()).listFiles(signal);
      return { ok: true, message: 'The Together API key works' };
    } catch (e) {
      return { ok: false, message: errorMessage(e) };
    }
  }

  async listHardware(): Promise<HardwareOption[]> {
    return [{ id: 'managed', label: 'Managed by Together', detail: 'Together picks the GPUs; billed per token' }];
  }

  // ---------------------------------------------------------------- submit

  async submit(job: Job, request: SubmitRequest, ctx: ProviderContext): Promise<SubmitResult> {
    const o = parseFinetuneOptions(request.options, 'Together');
    // One bad line: stop here, before any request (nothing uploaded).
    await assertDatasetsValid(o, ctx.signal);
    const api = await this.api();
    const uploads: UploadRecord[] = [];
    const send = async (role: UploadRecord['role'], file: string) => {
      ctx.report?.(`uploading ${path.basename(file)}`, 0);
      const { file: f, reused } = await api.uploadFineTuneFile(file, { signal: ctx.signal, onProgress: (sent, total) => ctx.report?.(`uploading ${path.basename(file)}`, total ? sent / total : undefined) });
      ctx.log?.(reused ? `Together already has ${path.basename(file)} (${f.id}); not sent again` : `Uploaded ${path.basename(file)} to Together as ${f.id}`);
      uploads.push({ role, id: f.id, reused, bytes: f.bytes });
      return f.id;
    };
    const marker = providerMarker(job.id);
    let created: { job: TogetherJob; recovered: boolean };
    let price: ProviderPrice | undefined;
    try {
      const training = await send('training', o.trainingFile);
      const validation = o.validationFile ? await send('validation', o.validationFile) : undefined;
      const params = createParams(o, training, validation, marker);
      price = await this.priceCheck(api, params, request.maxCostUsd, ctx);
      created = await api.createFineTune(params, ctx.signal);
    } catch (e) {
      // The job does not exist (a lost create was looked up first): leave nothing of this submission there.
      if (!(e instanceof TogetherApiError && e.unknownOutcome)) await this.deleteUploads(api, uploads.filter((u) => !u.reused), undefined, ctx).catch(() => undefined);
      throw e;
    }
    if (created.recovered) ctx.log?.(`The create's answer was lost; found the job ${created.job.id} by its suffix ${marker} (not created twice)`);
    return {
      providerJobId: created.job.id,
      status: mapTogetherStatus(created.job.status),
      providerStatus: created.job.status,
      metadata: {
        finetuneUploads: uploads, finetuneMarker: marker, finetuneModel: o.model,
        ...(created.job.model_output_name ? { outputModel: created.job.model_output_name } : {}),
        ...(price ? { providerEstimate: price } : {}),
      },
    };
  }

  /**
   * Together's own price for the job, asked once its files are uploaded (our price table has no Together
   * rates). With `maxCostUsd` (spending limits apply) a price above it, or no price at all, stops the
   * submission before the job is created; without it a missing estimate is only logged. A file Together
   * is still validating has no estimate yet: asked again a few times, a second apart.
   */
  private async priceCheck(api: TogetherApi, params: CreateFineTune, maxCostUsd: number | undefined, ctx: ProviderContext): Promise<ProviderPrice | undefined> {
    let reason = 'no answer';
    for (let attempt = 0; attempt < (this.deps.estimateAttempts ?? 6); attempt++) {
      let e: PriceEstimate;
      try {
        e = await api.estimatePrice(params, ctx.signal);
      } catch (err) {
        if (ctx.signal?.aborted) throw err;
        reason = (err as Error).message;
        break;
      }
      if (e.estimation_available && e.estimated_total_price !== undefined) {
        const price: ProviderPrice = { usd: e.estimated_total_price, source: 'Together estimate-price', trainTokens: e.estimated_train_token_count, evalTokens: e.estimated_eval_token_count };
        ctx.log?.(`Together estimates $${price.usd.toFixed(2)} for this job (${price.trainTokens ?? '?'} training + ${price.evalTokens ?? 0} evaluation tokens)`);
        if (e.allowed_to_proceed === false) {
          throw new TogetherApiError(`Together would not start this job: its estimate $${price.usd.toFixed(2)} is above your Together credit limit${e.user_limit !== undefined ? ` ($${e.user_limit})` : ''}`);
        }
        if (maxCostUsd !== undefined && price.usd > maxCostUsd + 1e-9) throw new PriceAboveLimitError(price.usd, 'Together');
        return price;
      }
      reason = e.estimation_available ? 'no total price in the answer' : e.unavailable_reason;
      if (e.estimation_available || !/not_validated$/.test(e.unavailable_reason)) break;
      await sleep(this.deps.estimateRetryMs ?? 1000, ctx.signal);
    }
    ctx.log?.(`Together gave no price estimate for this job (${reason})`);
    if (maxCostUsd !== undefined) throw new PriceAboveLimitError(undefined, 'Together', reason);
    return undefined;
  }

  // ---------------------------------------------------------------- follow

  private async retrieve(job: Job, signal?: AbortSignal, fresh = false): Promise<TogetherJob | undefined> {
    const id = job.providerJobId;
    if (!id) return undefined;
    const hit = this.cache.get(id);
    if (!fresh && hit && Date.now() - hit.at < (this.deps.cacheMs ?? 1000)) return hit.job;
    try {
      const got = await (await this.api()).retrieveFineTune(id, signal);
      this.cache.set(id, { at: Date.now(), job: got });
      return got;
    } catch (e) {
      if (e instanceof TogetherApiError && e.status === 404) return undefined;
      throw reconnecting(e);
    }
  }

  async status(job: Job, ctx: ProviderContext): Promise<StatusUpdate> {
    const j = await this.retrieve(job, ctx.signal);
    if (!j) {
      return job.cancelRequestedAt
        ? { status: 'cancelled', statusDetail: 'No longer on Together' }
        : { status: 'failed', error: `The fine-tune ${job.providerJobId ?? ''} no longer exists on Together`.trim() };
    }
    const status = mapTogetherStatus(j.status);
    return {
      status,
      providerStatus: j.status,
      statusDetail: DETAIL[j.status],
      progress: progressOf(j),
      ...(status === 'failed' ? { error: togetherError(j) } : {}),
      // Together's running total (USD): cost so far while it runs, the bill at the end.
      ...(typeof j.total_price === 'number' && j.total_price > 0 ? { cost: { actual: j.total_price } } : {}),
      startedAt: j.started_at,
      metadata: j.model_output_name ? { outputModel: j.model_output_name } : undefined,
    };
  }

  /** The job's events as log lines; Together's event list only grows, so byte offsets stay valid. */
  async fetchLogs(job: Job, offset: number, ctx: ProviderContext): Promise<Buffer | null> {
    if (!job.providerJobId) return Buffer.alloc(0);
    let events: TogetherEvent[];
    try {
      events = await (await this.api()).listEvents(job.providerJobId, ctx.signal);
    } catch (e) {
      if (e instanceof TogetherApiError && e.status === 404) return Buffer.alloc(0);
      throw reconnecting(e);
    }
    return sliceLog(renderTogetherEvents(events), offset, !['succeeded', 'failed', 'cancelled'].includes(job.status));
  }

  async cancel(job: Job, ctx: ProviderContext): Promise<void> {
    if (!job.providerJobId) return;
    this.cache.delete(job.providerJobId);
    try {
      await (await this.api()).cancelFineTune(job.providerJobId, ctx.signal);
    } catch (e) {
      if (e instanceof TogetherApiError && e.status === 404) return; // already gone
      throw e;
    }
  }

  /**
   * Record the output model, download the LoRA adapter into outputs/<job> (succeeded LoRA jobs, unless
   * turned off), and delete the uploaded files unless the user keeps them or another job still uses them.
   */
  async finalize(job: Job, ctx: ProviderContext): Promise<FinalizeResult> {
    const o = parseFinetuneOptions(job.submission?.options, 'Together');
    const api = await this.api();
    const j = job.providerJobId ? await this.retrieve(job, ctx.signal, true) : undefined;
    const outputs: JobOutput[] = [];
    const metadata: Record<string, unknown> = {};
    const notes: string[] = [];
    const model = j?.model_output_name ?? (job.metadata.outputModel as string | undefined);
    if (job.status === 'succeeded' && model) {
      outputs.push({ kind: 'model', uri: model, label: 'Together model' });
      metadata.outputModel = model;
      if (o.lora && o.downloadWeights && !job.metadata.weightsDownloaded) {
        const dest = path.join(outputDirFor(job, ctx.dataHome), `${job.providerJobId}-adapter.tar.zst`);
        try {
          const bytes = await api.download(job.providerJobId!, dest, { checkpoint: 'adapter', signal: ctx.signal });
          outputs.push({ kind: 'file', uri: dest, label: 'LoRA adapter (tar.zst)', bytes });
          metadata.weightsDownloaded = true;
          ctx.log?.(`Downloaded the LoRA adapter to ${dest}`);
        } catch (e) {
          notes.push(`LoRA adapter not downloaded (${errorMessage(e)}); the model ${model} is in your Together account`);
        }
      }
    }
    Object.assign(metadata, await this.cleanUploads(api, job, o, ctx));
    if (j?.total_price) return { outputs, metadata, cost: { currency: 'USD', actual: j.total_price }, ...(notes.length ? { statusDetail: notes.join('; ') } : {}) };
    return { outputs, metadata, ...(notes.length ? { statusDetail: notes.join('; ') } : {}) };
  }

  private async cleanUploads(api: TogetherApi, job: Job, o: FinetuneOptions, ctx: ProviderContext): Promise<Record<string, unknown>> {
    const uploads = uploadsOf(job);
    if (!uploads.length || job.metadata.uploadsDeleted) return {};
    if (o.keepUploads) {
      ctx.log?.(`Keeping the uploaded files on Together (${uploads.map((u) => u.id).join(', ')}), as asked`);
      return { uploadsKept: true };
    }
    // A reused file may serve another job that is still running: it needs the file.
    const active = (await api.listFineTunes(ctx.signal)).filter((x) => x.id !== job.providerJobId && !['completed', 'cancelled', 'error'].includes(x.status));
    const inUse = new Set(active.flatMap((x) => [x.training_file, x.validation_file]).filter(Boolean) as string[]);
    const kept = uploads.filter((u) => inUse.has(u.id));
    for (const k of kept) ctx.log?.(`Keeping ${k.id} on Together: another fine-tune still uses it`);
    await this.deleteUploads(api, uploads.filter((u) => !inUse.has(u.id)), ctx.signal, ctx);
    return kept.length ? { uploadsDeleted: true, uploadsKeptFor: kept.map((k) => k.id) } : { uploadsDeleted: true };
  }

  private async deleteUploads(api: TogetherApi, uploads: UploadRecord[], signal: AbortSignal | undefined, ctx: ProviderContext): Promise<void> {
    for (const u of uploads) {
      try {
        await api.deleteFile(u.id, signal);
        ctx.log?.(`Deleted the uploaded ${u.role} file ${u.id} from Together`);
      } catch (e) {
        if (!(e instanceof TogetherApiError && e.status === 404)) throw e;
      }
    }
  }

  async listRemote(limit: number, ctx: ProviderContext): Promise<RemoteJobSummary[]> {
    const jobs = await (await this.api()).listFineTunes(ctx.signal);
    return jobs.slice(0, limit).map((j) => ({
      providerJobId: j.id, status: mapTogetherStatus(j.status), createdAt: j.created_at ?? new Date(0).toISOString(),
      name: `fine-tune ${j.model_output_name ?? j.model ?? j.id}`, hardware: 'managed',
    }));
  }

  dispose(): void {
    this.cache.clear();
  }
}

export function createParams(o: FinetuneOptions, trainingFile: string, validationFile: string | undefined, suffix: string): CreateFineTune {
  // LoRA rank default 8 and alpha 2 × rank: our choice when none is given (Together's own defaults are not stated per model).
  const rank = o.loraRank ?? 8;
  return {
    model: o.model, training_file: trainingFile, suffix,
    ...(validationFile ? { validation_file: validationFile } : {}),
    ...(o.epochs ? { n_epochs: o.epochs } : {}),
    ...(o.learningRate ? { learning_rate: o.learningRate } : {}),
    ...(o.evaluations !== undefined && validationFile ? { n_evals: o.evaluations } : {}),
    ...(o.fromCheckpoint ? { from_checkpoint: o.fromCheckpoint } : {}),
    training_type: o.lora ? { type: 'Lora', lora_r: rank, lora_alpha: rank * 2 } : { type: 'Full' },
    training_method: o.method === 'dpo' ? { method: 'dpo' } : { method: 'sft', train_on_inputs: 'auto' },
  };
}

/** Transient failures read as "reconnecting" on the job: the monitor shows it and backs off. */
function reconnecting(e: unknown): unknown {
  if (e instanceof TogetherApiError && e.transient) return new TogetherApiError(`reconnecting to Together (${e.message})`, e.status, true);
  return e;
}

/** The provider as the CLI builds it: TOGETHER_API_KEY and TOGETHER_BASE_URL, read on every call. */
export function togetherProviderFromEnv(env: NodeJS.ProcessEnv = process.env, extra: Partial<TogetherProviderDeps> = {}): TogetherProvider {
  return new TogetherProvider({ getApiKey: async () => env.TOGETHER_API_KEY, baseUrl: () => env.TOGETHER_BASE_URL, ...extra });
}
