import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { describeNetworkError, multipartBody, parseRetryAfter, scrubSecret, sleep, streamedRequest } from '../streamed-http';

/**
 * A small typed client for the Fireworks control-plane REST API (no official TypeScript SDK):
 * datasets (create, streamed upload — direct under 150 MB, signed URL above — validate) and supervised
 * fine-tuning jobs (create, get, list, delete). References:
 * https://docs.fireworks.ai/fine-tuning/fine-tuning-via-api and https://docs.fireworks.ai/api-reference/
 * (create-dataset, upload-dataset-files, get-dataset-upload-endpoint, validate-dataset-upload,
 * get-supervised-fine-tuning-job, delete-fine-tuning-job).
 *
 * Responses are zod-validated (loose: Fireworks adds fields; unknown JOB_STATE_* values pass through).
 * Errors are grpc-gateway bodies {code, message, details}; they become FireworksApiError, key scrubbed.
 */
export const DEFAULT_FIREWORKS_BASE_URL = 'https://api.fireworks.ai';
/** ":upload … can handle file sizes up to 150Mb" (upload-dataset-files). */
export const DIRECT_UPLOAD_LIMIT = 150 * 1024 * 1024;

/** int64 fields arrive as JSON strings (proto3 JSON mapping). */
const Int64 = z.union([z.string(), z.number()]).transform((v) => Number(v));

export const DatasetSchema = z.looseObject({
  name: z.string(),
  displayName: z.string().optional(),
  createTime: z.string().optional(),
  state: z.string(),
  status: z.looseObject({ code: z.string().optional(), message: z.string().optional() }).optional(),
  exampleCount: Int64.optional(),
});
export type FireworksDataset = z.infer<typeof DatasetSchema>;

/** Documented states we act on; others (JOB_STATE_VALIDATING, …) are passed through as strings. */
export const TERMINAL_STATES = ['JOB_STATE_COMPLETED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_EXPIRED', 'JOB_STATE_EARLY_STOPPED'] as const;

export const JobSchema = z.looseObject({
  name: z.string(),
  displayName: z.string().optional(),
  createTime: z.string().optional(),
  updateTime: z.string().optional(),
  completedTime: z.string().optional(),
  state: z.string(),
  status: z.looseObject({ code: z.string().optional(), message: z.string().optional() }).optional(),
  dataset: z.string().optional(),
  evaluationDataset: z.string().optional(),
  baseModel: z.string().optional(),
  warmStartFrom: z.string().optional(),
  outputModel: z.string().optional(),
  epochs: z.number().optional(),
  learningRate: z.number().optional(),
  loraRank: z.number().optional(),
  jobProgress: z.looseObject({ percent: z.number().optional(), epoch: z.number().optional() }).optional(),
});
export type FireworksJob = z.infer<typeof JobSchema>;

const JobPageSchema = z.looseObject({
  supervisedFineTuningJobs: z.array(JobSchema).default([]),
  nextPageToken: z.string().optional(),
  totalSize: z.number().optional(),
});
const SignedUrlsSchema = z.looseObject({ filenameToSignedUrls: z.record(z.string(), z.string()) });
const Empty = z.looseObject({});

export interface CreateSftJob {
  dataset: string;
  baseModel?: string;
  /** Continue from an earlier LoRA (instead of baseModel). */
  warmStartFrom?: string;
  outputModel?: string;
  displayName?: string;
  evaluationDataset?: string;
  epochs?: number;
  learningRate?: number;
  loraRank?: number;
  maxContextLength?: number;
}

export class FireworksApiError extends Error {
  override readonly name = 'FireworksApiError';
  constructor(
    message: string,
    readonly status?: number,
    readonly transient = false,
    /** The request may or may not have taken effect (5xx, timeout, dropped connection). */
    readonly unknownOutcome = false,
    /** From a 429's Retry-After. */
    public retryAfterMs?: number,
  ) { super(message); }
}

export interface FireworksApiOptions {
  apiKey: string;
  accountId: string;
  /** Else FIREWORKS_BASE_URL, else the public API. */
  baseUrl?: string;
  timeoutMs?: number;
  /** Retries of idempotent requests after 429/5xx/network errors. */
  maxRetries?: number;
  backoffMs?: number;
  maxRetryAfterMs?: number;
  /** Files above this go through the signed-URL upload. */
  directUploadLimit?: number;
}

interface Call { method: string; path: string; query?: Record<string, string>; body?: unknown; signal?: AbortSignal; idempotent: boolean }

export class FireworksApi {
  readonly baseUrl: string;

  constructor(private readonly opts: FireworksApiOptions) {
    this.baseUrl = (opts.baseUrl || process.env.FIREWORKS_BASE_URL || DEFAULT_FIREWORKS_BASE_URL).replace(/\/+$/, '');
  }

  private get account(): string { return `/v1/accounts/${encodeURIComponent(this.opts.accountId)}`; }

  // ------------------------------------------------------------------ datasets

  async getDataset(id: string, signal?: AbortSignal): Promise<FireworksDataset | undefined> {
    try {
      return DatasetSchema.parse(await this.send(`Dataset ${id}`, { method: 'GET', path: `${this.account}/datasets/${id}`, signal, idempotent: true }));
    } catch (e) {
      if (e instanceof FireworksApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  async deleteDataset(id: string, signal?: AbortSignal): Promise<void> {
    await this.send(`Delete dataset ${id}`, { method: 'DELETE', path: `${this.account}/datasets/${id}`, signal, idempotent: true }).catch((e: unknown) => {
      if (!(e instanceof FireworksApiError && e.status === 404)) throw e;
    });
  }

  /**
   * Make the file a READY dataset, reusing one with the same content. The dataset id is derived from the
   * sha256 (`ct-<sha256[:40]>`), so the id itself says whether Fireworks already has these bytes, and a
   * lost create or upload is simply repeated against the same id.
   */
  async ensureDataset(file: string, o: { sha256?: string; displayName?: string; signal?: AbortSignal; onProgress?(sent: number, total: number): void } = {}): Promise<{ dataset: FireworksDataset; id: string; reused: boolean }> {
    const { size } = await fs.stat(file);
    const sha256 = o.sha256 ?? (await sha256File(file, o.signal));
    const id = datasetIdFor(sha256);
    let ds = await this.getDataset(id, o.signal);
    if (ds?.state === 'READY') return { dataset: ds, id, reused: true };
    if (!ds) {
      try {
        await this.send('Create dataset', {
          method: 'POST', path: `${this.account}/datasets`, signal: o.signal, idempotent: true, // same id: a repeat answers 409
          body: { datasetId: id, dataset: { displayName: o.displayName ?? path.basename(file), userUploaded: {} } },
        });
      } catch (e) {
        if (!(e instanceof FireworksApiError && e.status === 409)) throw e;
      }
    }
    const limit = this.opts.directUploadLimit ?? DIRECT_UPLOAD_LIMIT;
    const uploadOnce = () => size < limit ? this.uploadDirect(id, file, size, o) : this.uploadSigned(id, file, size, o);
    // A 429 stored nothing: wait for its Retry-After and send again (a few times).
    const upload = async (): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await uploadOnce();
        } catch (e) {
          if (!(e instanceof FireworksApiError) || e.status !== 429 || attempt >= 3 || o.signal?.aborted) throw e;
          await sleep(Math.min(e.retryAfterMs ?? 1000, this.opts.maxRetryAfterMs ?? 120_000), o.signal);
        }
      }
    };
    try {
      await upload();
    } catch (e) {
      if (!(e instanceof FireworksApiError) || !e.unknownOutcome || o.signal?.aborted) throw e;
      // The upload may have landed: look before sending the bytes again, once.
      if ((await this.getDataset(id, o.signal))?.state !== 'READY') await upload();
    }
    ds = await this.getDataset(id, o.signal);
    if (ds?.state !== 'READY') throw new FireworksApiError(this.clean(`Dataset ${id} is not ready after upload (state ${ds?.state ?? 'missing'}${ds?.status?.message ? `: ${ds.status.message}` : ''})`));
    return { dataset: ds, id, reused: false };
  }

  private async uploadDirect(id: string, file: string, size: number, o: { signal?: AbortSignal; onProgress?(sent: number, total: number): void }): Promise<void> {
    const body = multipartBody({}, { field: 'file', filename: path.basename(file), path: file, size, contentType: 'application/jsonl' });
    await this.streamed(`Upload dataset ${id}`, `${this.baseUrl}${this.account}/datasets/${id}:upload`, 'POST', { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': body.contentType }, body.parts, o);
  }

  /** Above 150 MB: ask for a signed URL, PUT the bytes there (no bearer: the URL is the credential), validate. */
  private async uploadSigned(id: string, file: string, size: number, o: { signal?: AbortSignal; onProgress?(sent: number, total: number): void }): Promise<void> {
    const filename = path.basename(file);
    const urls = SignedUrlsSchema.parse(await this.send(`Upload endpoint for ${id}`, {
      method: 'POST', path: `${this.account}/datasets/${id}:getUploadEndpoint`, body: { filenameToSize: { [filename]: String(size) } }, signal: o.signal, idempotent: true,
    }));
    const url = urls.filenameToSignedUrls[filename];
    if (!url) throw new FireworksApiError(`Upload endpoint for ${id}: Fireworks returned no URL for ${filename}`);
    await this.streamed(`Upload dataset ${id}`, url, 'PUT', { 'content-type': 'application/octet-stream' }, [{ path: file, size }], o, url);
    await this.send(`Validate dataset ${id}`, { method: 'POST', path: `${this.account}/datasets/${id}:validateUpload`, body: {}, signal: o.signal, idempotent: true });
  }

  private async streamed(what: string, url: string, method: string, headers: Record<string, string>, parts: Parameters<typeof streamedRequest>[0]['parts'], o: { signal?: AbortSignal; onProgress?(sent: number, total: number): void }, secretUrl?: string): Promise<void> {
    let res: Response;
    try {
      res = await streamedRequest({ url, method, headers: { ...headers, accept: 'application/json' }, parts, signal: o.signal, onProgress: o.onProgress });
    } catch (e) {
      if (o.signal?.aborted) throw new FireworksApiError(`${what}: cancelled`);
      throw new FireworksApiError(this.clean(`${what}: the connection to Fireworks failed before an answer came (${describeNetworkError(e)})`, secretUrl), undefined, true, true);
    }
    const text = await res.text();
    if (!res.ok) {
      const err = this.httpError(what, res.status, text, res.headers.get('retry-after'), secretUrl);
      err.retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      throw err;
    }
  }

  // ------------------------------------------------------------------ supervised fine-tuning jobs

  /**
   * Create a job under an id we choose, never twice: after a 5xx, timeout or dropped connection the job
   * is looked up by that id before the create is sent again; a repeat that answers 409 means the first landed.
   */
  async createSftJob(jobId: string, spec: CreateSftJob, signal?: AbortSignal): Promise<{ job: FireworksJob; recovered: boolean }> {
    for (let attempt = 0; ; attempt++) {
      try {
        const created = await this.send('Create fine-tuning job', {
          method: 'POST', path: `${this.account}/supervisedFineTuningJobs`, query: { supervisedFineTuningJobId: jobId }, body: spec, signal, idempotent: false,
        });
        return { job: JobSchema.parse(created), recovered: false };
      } catch (e) {
        if (!(e instanceof FireworksApiError) || signal?.aborted) throw e;
        if (e.status === 409 && attempt > 0) {
          const job = await this.getSftJob(jobId, signal);
          return { job, recovered: true };
        }
        if (!e.unknownOutcome) throw e;
        let found: FireworksJob | undefined;
        try {
          found = await this.getSftJob(jobId, signal);
        } catch (lookup) {
          if (!(lookup instanceof FireworksApiError && lookup.status === 404)) {
            throw new FireworksApiError(`${e.message}. Could not confirm whether job ${jobId} was created; check your fine-tuning jobs on fireworks.ai before submitting again.`, e.status, true, true);
          }
        }
        if (found) return { job: found, recovered: true };
        if (attempt >= 2) throw e;
      }
    }
  }

  async getSftJob(jobId: string, signal?: AbortSignal): Promise<FireworksJob> {
    return JobSchema.parse(await this.send(`Fine-tuning job ${jobId}`, { method: 'GET', path: `${this.account}/supervisedFineTuningJobs/${jobId}`, signal, idempotent: true }));
  }

  /** Every job, following nextPageToken (bounded by maxPages). */
  async listSftJobs(o: { pageSize?: number; maxPages?: number; signal?: AbortSignal } = {}): Promise<FireworksJob[]> {
    const out: FireworksJob[] = [];
    let token = '';
    for (let page = 0; page < (o.maxPages ?? 20); page++) {
      const query: Record<string, string> = { pageSize: String(o.pageSize ?? 50) };
      if (token) query.pageToken = token;
      const p = JobPageSchema.parse(await this.send('List fine-tuning jobs', { method: 'GET', path: `${this.account}/supervisedFineTuningJobs`, query, signal: o.signal, idempotent: true }));
      out.push(...p.supervisedFineTuningJobs);
      token = p.nextPageToken ?? '';
      if (!token) break;
    }
    return out;
  }

  /**
   * Stop a running job and keep it readable (state JOB_STATE_CANCELLED). The REST path `:cancel` is the
   * AIP custom method behind `firectl supervised-fine-tuning-job cancel`
   * (https://docs.fireworks.ai/tools-sdks/firectl/commands/supervised-fine-tuning-job-cancel); the
   * REST reference does not list it, so a 404 for a job that exists falls back to deleting it.
   */
  async cancelSftJob(jobId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.send(`Cancel fine-tuning job ${jobId}`, { method: 'POST', path: `${this.account}/supervisedFineTuningJobs/${jobId}:cancel`, body: {}, signal, idempotent: true });
    } catch (e) {
      if (!(e instanceof FireworksApiError && e.status === 404)) throw e;
      const exists = await this.getSftJob(jobId, signal).then(() => true, (g: unknown) => {
        if (g instanceof FireworksApiError && g.status === 404) return false;
        throw g;
      });
      if (exists) await this.deleteSftJob(jobId, signal);
    }
  }

  /** Delete (and so stop) a job; one already gone is not an error. */
  async deleteSftJob(jobId: string, signal?: AbortSignal): Promise<void> {
    await this.send(`Delete fine-tuning job ${jobId}`, { method: 'DELETE', path: `${this.account}/supervisedFineTuningJobs/${jobId}`, signal, idempotent: true }).catch((e: unknown) => {
      if (!(e instanceof FireworksApiError && e.status === 404)) throw e;
    });
  }

  // ------------------------------------------------------------------ transport

  /**
   * One JSON call. 429 is always retried after Retry-After (nothing happened); 5xx and network errors only
   * when the call is idempotent — a create is the caller's to look up.
   */
  private async send(what: string, c: Call): Promise<unknown> {
    const url = new URL(`${this.baseUrl}${c.path}`);
    for (const [k, v] of Object.entries(c.query ?? {})) url.searchParams.set(k, v);
    const max = this.opts.maxRetries ?? 3;
    for (let attempt = 0; ; attempt++) {
      let err: FireworksApiError;
      let wait: number | undefined;
      try {
        const signals = [AbortSignal.timeout(this.opts.timeoutMs ?? 60_000), ...(c.signal ? [c.signal] : [])];
        const res = await fetch(url, {
          method: c.method, signal: AbortSignal.any(signals),
          headers: { authorization: `Bearer ${this.opts.apiKey}`, accept: 'application/json', ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}) },
          body: c.body !== undefined ? JSON.stringify(c.body) : undefined,
        });
        const text = await res.text();
        if (res.ok) return text ? Empty.parse(JSON.parse(text)) : {};
        err = this.httpError(what, res.status, text, res.headers.get('retry-after'));
        if (res.status === 429) wait = Math.min(parseRetryAfter(res.headers.get('retry-after')) ?? 1000, this.opts.maxRetryAfterMs ?? 120_000);
      } catch (e) {
        if (c.signal?.aborted) throw new FireworksApiError(`${what}: cancelled`);
        if (e instanceof SyntaxError) throw new FireworksApiError(`${what}: Fireworks answered something that is not JSON`);
        const reason = (e as { name?: string }).name === 'TimeoutError' ? 'timed out' : describeNetworkError(e);
        err = new FireworksApiError(this.clean(`${what}: the connection to Fireworks failed before an answer came (${reason})`), undefined, true, true);
      }
      const retryable = err.status === 429 || (err.transient && c.idempotent);
      if (!retryable || attempt >= max) throw err;
      await sleep(wait ?? Math.min((this.opts.backoffMs ?? 500) * 2 ** attempt, 8000), c.signal);
    }
  }

  private httpError(what: string, status: number, body: string, _retryAfter?: string | null, secretUrl?: string): FireworksApiError {
    let detail: string | undefined;
    try {
      const b = JSON.parse(body) as { message?: unknown; error?: { message?: unknown } };
      const m = b.message ?? b.error?.message;
      detail = typeof m === 'string' && m ? m : undefined;
    } catch { /* not JSON */ }
    const tail = detail ? `: ${detail}` : '';
    const make = (msg: string, transient = false, unknown = false) => new FireworksApiError(this.clean(msg, secretUrl), status, transient, unknown);
    if (secretUrl && (status === 401 || status === 403)) return make(`${what}: the signed upload URL was refused (HTTP ${status}); it may have expired${tail}`, true);
    if (status === 401 || status === 403) return make(`${what}: Fireworks rejected the API key (HTTP ${status}). Set a valid key in FIREWORKS_API_KEY and check the account id.`);
    if (status === 404) return make(`${what}: not found on Fireworks${tail}`);
    if (status === 409) return make(`${what}: already exists on Fireworks${tail}`);
    if (status === 429) return make(`${what}: rate limited by Fireworks${tail}`, true);
    if (status >= 500) return make(`${what}: Fireworks server error (HTTP ${status})${tail}`, true, true);
    return make(`${what}: Fireworks refused the request (HTTP ${status})${tail}`);
  }

  /** No key, and no signed upload URL (it is a credential too), in any message. */
  private clean(text: string, secretUrl?: string): string {
    let out = scrubSecret(text, this.opts.apiKey);
    if (secretUrl) out = out.split(secretUrl).join('<signed upload URL>');
    return out;
  }
}

/** Fireworks ids: lowercase letters, digits, hyphens, at most 63. */
export function datasetIdFor(sha256: string): string {
  return `ct-${sha256.slice(0, 40)}`;
}

export function isTerminalState(state: string): boolean {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { signal })) h.update(chunk as Buffer);
  return h.digest('hex');
}
