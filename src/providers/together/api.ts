import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as z from 'zod';
import type * as TogetherSdk from '../../vendor/together';
import { loadVendor } from '../../vendor/load';
import { describeNetworkError, multipartBody, parseRetryAfter, scrubSecret, sleep, streamedRequest } from '../streamed-http';

/**
 * Thin typed wrapper over Together AI's official SDK (`together-ai`) for fine-tuning: responses are
 * zod-validated (loose objects: Together adds fields), errors become TogetherApiError with the key
 * scrubbed. Reference: https://docs.together.ai/reference (fine-tuning, files).
 *
 * Where the SDK is not used, and why:
 * - Upload. `client.files.upload(path)` (lib/upload.js in 0.52.0) posts to the legacy `/files` redirect
 *   flow at a base URL read from TOGETHER_API_BASE_URL at import time (not the client's baseURL), sends
 *   the full local path as `file_name`, its pre-check reads JSONL files whole (check-file.js readFile),
 *   hangs on an unsupported extension, takes no AbortSignal, and hands a Node stream to fetch without
 *   `duplex`. So we call the documented `POST /files/upload` multipart endpoint
 *   (https://docs.together.ai/reference/upload-file) with the file streamed from disk.
 * - Retries. The SDK retries any request, POST included, after a dropped connection — a create could
 *   run twice. Create is sent with maxRetries 0 and retried here only after looking the job up.
 */
export const DEFAULT_TOGETHER_BASE_URL = 'https://api.together.xyz/v1';

export const FileSchema = z.looseObject({
  id: z.string(),
  object: z.literal('file').optional(),
  created_at: z.number().optional(),
  filename: z.string(),
  bytes: z.number(),
  purpose: z.string(),
  FileType: z.string().optional(),
  LineCount: z.number().optional(),
  processing_status: z.string().optional(),
  validation_report: z.looseObject({ valid: z.boolean(), error: z.string().optional(), dataset_format: z.string().optional() }).optional(),
});
export type TogetherFile = z.infer<typeof FileSchema>;

export const JobStatusSchema = z.enum(['pending', 'queued', 'running', 'compressing', 'uploading', 'cancel_requested', 'cancelled', 'error', 'completed']);
export type TogetherJobStatus = z.infer<typeof JobStatusSchema>;

export const EventSchema = z.looseObject({
  object: z.string().optional(),
  created_at: z.string(),
  message: z.string(),
  type: z.string(),
  level: z.string().nullish(),
  step: z.number().optional(),
  total_steps: z.number().optional(),
  checkpoint_path: z.string().optional(),
  model_path: z.string().optional(),
});
export type TogetherEvent = z.infer<typeof EventSchema>;

export const JobSchema = z.looseObject({
  id: z.string(),
  status: JobStatusSchema,
  created_at: z.string().optional(),
  updated_at: z.string().optional(),
  started_at: z.string().optional(),
  model: z.string().optional(),
  model_output_name: z.string().optional(),
  suffix: z.string().optional(),
  training_file: z.string().optional(),
  validation_file: z.string().optional(),
  n_epochs: z.number().optional(),
  epochs_completed: z.number().optional(),
  token_count: z.number().optional(),
  total_price: z.number().optional(),
  from_checkpoint: z.string().optional(),
  events: z.array(EventSchema).optional(),
  progress: z.looseObject({ estimate_available: z.boolean(), seconds_remaining: z.number() }).optional(),
});
export type TogetherJob = z.infer<typeof JobSchema>;

const ListOf = <T extends z.ZodType>(item: T) => z.looseObject({ data: z.array(item) });

/**
 * `POST /fine-tunes/estimate-price`: Together's own price for a job over files it already has
 * (FineTuningEstimatePriceResponse in together-ai 0.52.0 resources/fine-tuning.d.ts; "Estimate job cost"
 * in https://docs.together.ai/docs/fine-tuning/pricing).
 */
export const PriceEstimateSchema = z.discriminatedUnion('estimation_available', [
  z.looseObject({
    estimation_available: z.literal(true),
    estimated_total_price: z.number().nonnegative().optional(),
    estimated_train_token_count: z.number().nonnegative().optional(),
    estimated_eval_token_count: z.number().nonnegative().optional(),
    allowed_to_proceed: z.boolean().optional(),
    user_limit: z.number().optional(),
  }),
  z.looseObject({ estimation_available: z.literal(false), unavailable_reason: z.string() }),
]);
export type PriceEstimate = z.infer<typeof PriceEstimateSchema>;

/**
 * Everything our create sends. `suffix` is required and must be unique per job (derive it from our job
 * id): it is how a create whose answer was lost is found again.
 */
export interface CreateFineTune {
  model: string;
  training_file: string;
  suffix: string;
  validation_file?: string;
  n_epochs?: number;
  learning_rate?: number;
  n_checkpoints?: number;
  /** Evaluations on the validation file during training (https://docs.together.ai/reference/post-fine-tunes). */
  n_evals?: number;
  batch_size?: number | 'max';
  from_checkpoint?: string;
  training_type?: { type: 'Lora'; lora_r: number; lora_alpha: number; lora_dropout?: number } | { type: 'Full' };
  training_method?: { method: 'sft'; train_on_inputs: boolean | 'auto' } | { method: 'dpo'; dpo_beta?: number };
}

export class TogetherApiError extends Error {
  override readonly name = 'TogetherApiError';
  constructor(
    message: string,
    readonly status?: number,
    /** 429, 5xx, timeouts, dropped connections: trying later may help. */
    readonly transient = false,
    /** The request may or may not have taken effect (5xx, timeout, dropped connection). */
    readonly unknownOutcome = false,
    /** From a 429's Retry-After. */
    public retryAfterMs?: number,
  ) { super(message); }
}

export interface TogetherApiOptions {
  apiKey: string;
  /** Else TOGETHER_BASE_URL, else the public API. */
  baseUrl?: string;
  timeoutMs?: number;
  /** SDK retries for reads (it honours Retry-After). */
  maxRetries?: number;
  /** Longest Retry-After we wait on a create. */
  maxRetryAfterMs?: number;
}

export interface UploadOptions { signal?: AbortSignal; onProgress?(sent: number, total: number): void; sha256?: string }

export class TogetherApi {
  readonly baseUrl: string;
  private readonly sdk: TogetherSdk.Together;
  private readonly vendor: typeof TogetherSdk;

  constructor(private readonly opts: TogetherApiOptions) {
    this.baseUrl = (opts.baseUrl || process.env.TOGETHER_BASE_URL || DEFAULT_TOGETHER_BASE_URL).replace(/\/+$/, '');
    this.vendor = loadVendor<typeof TogetherSdk>('together');
    this.sdk = new this.vendor.Together({
      apiKey: opts.apiKey, baseURL: this.baseUrl, timeout: opts.timeoutMs ?? 60_000, maxRetries: opts.maxRetries ?? 2,
      // The SDK's own logging could print request details; ours goes through the caller.
      logLevel: 'off',
    });
  }

  // ------------------------------------------------------------------ files

  async listFiles(signal?: AbortSignal): Promise<TogetherFile[]> {
    return ListOf(FileSchema).parse(await this.call('List files', () => this.sdk.files.list({ signal }))).data;
  }

  async deleteFile(id: string, signal?: AbortSignal): Promise<void> {
    await this.call(`Delete file ${id}`, () => this.sdk.files.delete(id, { signal }));
  }

  /**
   * Upload a dataset for purpose `fine-tune`, or reuse the same content already there. Together keeps no
   * checksum, so the name we give it carries one: `<name>.<sha256[:16]>.jsonl`, matched with the size.
   */
  async uploadFineTuneFile(file: string, o: UploadOptions = {}): Promise<{ file: TogetherFile; reused: boolean }> {
    const { size } = await fs.stat(file);
    const sha256 = o.sha256 ?? (await sha256File(file, o.signal));
    const name = remoteFileName(file, sha256);
    const existing = await this.findFile(name, size, o.signal);
    if (existing) return { file: existing, reused: true };
    try {
      return { file: await this.sendFile(file, name, size, o), reused: false };
    } catch (e) {
      // The file may have landed though no answer came: look before sending it again, once.
      if (!(e instanceof TogetherApiError) || !e.unknownOutcome || o.signal?.aborted) throw e;
      // If even the lookup fails, stop: sending again could leave two copies.
      const landed = await this.findFile(name, size, o.signal);
      return { file: landed ?? (await this.sendFile(file, name, size, o)), reused: false };
    }
  }

  /** A usable earlier upload: same name (so same sha256) and size, and not refused by validation. */
  async findFile(name: string, bytes: number, signal?: AbortSignal): Promise<TogetherFile | undefined> {
    const files = await this.listFiles(signal);
    return files.find((f) => f.filename === name && f.bytes === bytes && f.purpose === 'fine-tune' && f.processing_status !== 'FAILED' && f.processing_status !== 'INVALID_FORMAT');
  }

  /** A 429 stored nothing: wait for its Retry-After and send again (a few times). */
  private async sendFile(file: string, name: string, size: number, o: UploadOptions): Promise<TogetherFile> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.sendFileOnce(file, name, size, o);
      } catch (e) {
        if (!(e instanceof TogetherApiError) || e.status !== 429 || attempt >= 3 || o.signal?.aborted) throw e;
        await sleep(Math.min(e.retryAfterMs ?? 1000, this.opts.maxRetryAfterMs ?? 120_000), o.signal);
      }
    }
  }

  private async sendFileOnce(file: string, name: string, size: number, o: UploadOptions): Promise<TogetherFile> {
    const body = multipartBody({ purpose: 'fine-tune', file_name: name, file_type: 'jsonl' }, { field: 'file', filename: name, path: file, size, contentType: 'application/jsonl' });
    let res: Response;
    try {
      res = await streamedRequest({
        url: `${this.baseUrl}/files/upload`, method: 'POST', parts: body.parts, signal: o.signal, onProgress: o.onProgress,
        headers: { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': body.contentType, accept: 'application/json' },
      });
    } catch (e) {
      if (o.signal?.aborted) throw new TogetherApiError('Upload to Together: cancelled');
      throw new TogetherApiError(this.clean(`Upload to Together: the connection failed before an answer came (${describeNetworkError(e)})`), undefined, true, true);
    }
    const text = await res.text();
    if (!res.ok) {
      const err = this.httpError('Upload to Together', res.status, text);
      err.retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      throw err;
    }
    const f = FileSchema.parse(JSON.parse(text));
    if (f.validation_report && !f.validation_report.valid) {
      // A refused file is of no use on Together; do not leave the user's data there.
      await this.deleteFile(f.id, o.signal).catch(() => undefined);
      throw new TogetherApiError(this.clean(`Together refused the dataset: ${f.validation_report.error ?? 'invalid format'}`), res.status);
    }
    return f;
  }

  // ------------------------------------------------------------------ fine-tunes

  /**
   * Create a job, never twice: a 5xx, timeout or dropped connection may have created it, so the job is
   * looked up by its suffix (and training file) before the create is sent again. A 429 created nothing:
   * wait for Retry-After and send again.
   */
  async createFineTune(params: CreateFineTune, signal?: AbortSignal): Promise<{ job: TogetherJob; recovered: boolean }> {
    for (let attempt = 0; ; attempt++) {
      try {
        const created = await this.call('Create fine-tune', () => this.sdk.fineTuning.create(params, { signal, maxRetries: 0 }));
        return { job: JobSchema.parse(created), recovered: false };
      } catch (e) {
        if (!(e instanceof TogetherApiError) || signal?.aborted) throw e;
        if (e.status === 429 && attempt < 4) { await sleep(Math.min(e.retryAfterMs ?? 1000, this.opts.maxRetryAfterMs ?? 120_000), signal); continue; }
        if (!e.unknownOutcome) throw e;
        let found: TogetherJob | undefined;
        try {
          found = await this.findJobBySuffix(params.suffix, params.training_file, signal);
        } catch {
          throw new TogetherApiError(`${e.message}. Could not confirm whether the job was created (suffix ${params.suffix}); check your fine-tuning jobs on together.ai before submitting again.`, e.status, true, true);
        }
        if (found) return { job: found, recovered: true };
        if (attempt >= 2) throw e;
      }
    }
  }

  /** Together's price for the job `params` would create (its files must be uploaded). */
  async estimatePrice(params: Omit<CreateFineTune, 'suffix' | 'learning_rate' | 'n_checkpoints' | 'batch_size'>, signal?: AbortSignal): Promise<PriceEstimate> {
    const { model, training_file, validation_file, n_epochs, n_evals, from_checkpoint, training_type, training_method } = params;
    const body = { model, training_file, validation_file, n_epochs, n_evals, from_checkpoint, training_type, training_method };
    return PriceEstimateSchema.parse(await this.call('Estimate price', () => this.sdk.fineTuning.estimatePrice(body as never, { signal })));
  }

  async findJobBySuffix(suffix: string, trainingFile: string, signal?: AbortSignal): Promise<TogetherJob | undefined> {
    const jobs = await this.listFineTunes(signal);
    return jobs.find((j) => j.training_file === trainingFile && (j.suffix === suffix || (j.model_output_name ?? '').includes(`-${suffix}-`)));
  }

  async retrieveFineTune(id: string, signal?: AbortSignal): Promise<TogetherJob> {
    return JobSchema.parse(await this.call(`Fine-tune ${id}`, () => this.sdk.fineTuning.retrieve(id, { signal })));
  }

  async listFineTunes(signal?: AbortSignal): Promise<TogetherJob[]> {
    return ListOf(JobSchema).parse(await this.call('List fine-tunes', () => this.sdk.fineTuning.list({ signal }))).data;
  }

  /** Ask Together to stop a job; cancelling one that already ended is not an error. */
  async cancelFineTune(id: string, signal?: AbortSignal): Promise<TogetherJob> {
    return JobSchema.parse(await this.call(`Cancel fine-tune ${id}`, () => this.sdk.fineTuning.cancel(id, { signal })));
  }

  async listEvents(id: string, signal?: AbortSignal): Promise<TogetherEvent[]> {
    return ListOf(EventSchema).parse(await this.call(`Events of ${id}`, () => this.sdk.fineTuning.listEvents(id, { signal }))).data;
  }

  /**
   * Download the weights (`adapter` = the LoRA) to `dest`, streamed to disk through `dest.partial`
   * so a broken download never looks finished. Returns the bytes written.
   */
  async download(id: string, dest: string, o: { checkpoint?: 'adapter' | 'merged'; signal?: AbortSignal } = {}): Promise<number> {
    const res = await this.call(`Download ${id}`, () => this.sdk.fineTuning.content({ ft_id: id, checkpoint: o.checkpoint ?? 'adapter' }, { signal: o.signal }));
    if (!res.body) throw new TogetherApiError(`Download ${id}: empty answer from Together`);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    const partial = `${dest}.partial`;
    try {
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), createWriteStream(partial), { signal: o.signal });
    } catch (e) {
      await fs.rm(partial, { force: true });
      throw new TogetherApiError(this.clean(`Download ${id}: interrupted (${describeNetworkError(e)})`), undefined, true);
    }
    await fs.rename(partial, dest);
    return (await fs.stat(dest)).size;
  }

  // ------------------------------------------------------------------ errors

  private async call<T>(what: string, fn: () => PromiseLike<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.toError(e, what);
    }
  }

  private toError(e: unknown, what: string): TogetherApiError {
    const v = this.vendor;
    if (e instanceof v.APIUserAbortError) return new TogetherApiError(`${what}: cancelled`);
    if (e instanceof v.APIConnectionTimeoutError) return new TogetherApiError(`${what}: Together did not answer in time`, undefined, true, true);
    if (e instanceof v.APIConnectionError) return new TogetherApiError(this.clean(`${what}: the connection to Together failed (${describeNetworkError((e as { cause?: unknown }).cause ?? e)})`), undefined, true, true);
    if (e instanceof v.APIError && typeof e.status === 'number') {
      // The SDK keeps the parsed error body; its `error` member is the reference's ErrorData.
      const body = e.error as { error?: unknown } | undefined;
      const err = this.httpError(what, e.status, JSON.stringify(body && typeof body === 'object' && 'error' in body ? body : { error: body }));
      err.retryAfterMs = parseRetryAfter(e.headers?.get('retry-after'));
      return err;
    }
    return new TogetherApiError(this.clean(`${what}: ${(e as Error)?.message ?? String(e)}`));
  }

  private httpError(what: string, status: number, body: string): TogetherApiError {
    let detail: string | undefined;
    try {
      const b = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
      const m = typeof b.error === 'string' ? b.error : b.error?.message ?? b.message;
      detail = typeof m === 'string' ? m : undefined;
    } catch { /* not JSON */ }
    const tail = detail ? `: ${detail}` : '';
    const make = (msg: string, transient = false, unknown = false) => new TogetherApiError(this.clean(msg), status, transient, unknown);
    if (status === 401 || status === 403) return make(`${what}: Together rejected the API key (HTTP ${status}). Set a valid key in TOGETHER_API_KEY.`);
    if (status === 404) return make(`${what}: not found on Together${tail}`);
    if (status === 429) return make(`${what}: rate limited by Together${tail}`, true);
    if (status >= 500) return make(`${what}: Together server error (HTTP ${status})${tail}`, true, true);
    return make(`${what}: Together refused the request (HTTP ${status})${tail}`);
  }

  private clean(text: string): string { return scrubSecret(text, this.opts.apiKey); }
}

/** `train.jsonl` + sha256 → `train.<first 16 hex>.jsonl`: the content is in the name Together keeps. */
export function remoteFileName(file: string, sha256: string): string {
  const base = path.basename(file).replace(/\.jsonl$/i, '').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  return `${base}.${sha256.slice(0, 16)}.jsonl`;
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { signal })) h.update(chunk as Buffer);
  return h.digest('hex');
}
