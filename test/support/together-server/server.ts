import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FaultInjectingServer } from '../fault-server';
import { readMultipart } from '../replicate-server/multipart';
import { JsonlChecker } from '../jsonl-check';

/**
 * A local stand-in for Together AI's fine-tuning API, written from the published reference
 * (https://docs.together.ai/reference, OpenAPI "Together APIs" 2.0.0) before our client:
 *
 * - Files: `POST /files/upload` multipart {purpose, file_name, file_type, file}
 *   (https://docs.together.ai/reference/upload-file), `GET /files` → {data: [...]} with no pagination
 *   (https://docs.together.ai/reference/get-files), `GET/DELETE /files/{id}`. File objects carry
 *   `id, object:"file", created_at (unix s), filename, bytes, purpose, Processed, FileType, LineCount`
 *   and, for purpose fine-tune, the validation pipeline's `processing_status` / `validation_report`.
 * - Fine-tunes: `POST /fine-tunes`, `GET /fine-tunes` → {data}, `GET /fine-tunes/{id}`,
 *   `POST /fine-tunes/{id}/cancel`, `GET /fine-tunes/{id}/events` → {data: [fine-tune-event]}
 *   (https://docs.together.ai/reference/get-fine-tunes-id-events), `GET /finetune/download?ft_id&checkpoint`
 *   → the weights as a binary body (https://docs.together.ai/reference/get-finetune-download).
 *   `POST /fine-tunes/estimate-price` {training_file, validation_file?, model?, n_epochs?, n_evals?,
 *   training_method?, training_type?, from_checkpoint?} → `{estimation_available: true, estimated_total_price,
 *   estimated_train_token_count, estimated_eval_token_count, allowed_to_proceed, user_limit}` or
 *   `{estimation_available: false, unavailable_reason: 'train_file_not_validated' | 'eval_file_not_validated' |
 *   'train_file_invalid' | 'eval_file_invalid' | 'multimodal_dataset'}` (FineTuningEstimatePriceParams /
 *   FineTuningEstimatePriceResponse in together-ai 0.52.0 resources/fine-tuning.d.ts; the docs' "Estimate job
 *   cost" section: https://docs.together.ai/docs/fine-tuning/pricing). Tokens are billed as
 *   total = n_epochs × training tokens + n_evals × validation tokens (same page).
 *   Status: pending | queued | running | compressing | uploading | cancel_requested | cancelled | error | completed.
 *   `processing_status` / `validation_report` follow the FileResponse schema of the same OpenAPI spec as
 *   shipped in the SDK (together-ai 0.52.0 resources/files.d.ts); the stand-in validates synchronously.
 * - Errors: bearer auth; the error body is the reference's ErrorData `{error: {message, type, param, code}}`.
 *   The reference does not itemise refusal statuses per endpoint: a refused request answers 400 here.
 *
 * Faults (status, Retry-After, dropped connection before/after handling, slow answer) are switchable per
 * test. A job advances one stage per `GET /fine-tunes/{id}` (deterministic "slow progress").
 */
export type TogetherStatus = 'pending' | 'queued' | 'running' | 'compressing' | 'uploading' | 'cancel_requested' | 'cancelled' | 'error' | 'completed';

export interface StoredFile {
  id: string; object: 'file'; created_at: number; filename: string; bytes: number; purpose: string;
  Processed: boolean; FileType: string; LineCount: number;
  processing_status: 'COMPLETED' | 'INVALID_FORMAT';
  validation_report: { valid: boolean; dataset_format?: string; error?: string };
  sha256: string;
}

export interface StoredJob {
  id: string; status: TogetherStatus; created_at: string; updated_at: string; started_at?: string;
  user_id: string; model: string; model_output_name: string; suffix?: string; training_file: string; validation_file?: string;
  n_epochs: number; learning_rate: number; training_type: unknown; training_method: unknown; from_checkpoint?: string;
  epochs_completed: number; token_count: number; total_price: number; trainingfile_numlines: number; trainingfile_size: number;
  events: { object: 'fine-tune-event'; created_at: string; message: string; type: string; level: string | null; step?: number; total_steps?: number; checkpoint_path?: string; model_path?: string }[];
  /** Test script: total steps, and whether it ends in error. */
  steps: number; step: number; outcome: 'completed' | 'error';
}

export class FakeTogether extends FaultInjectingServer {
  apiKey = `tgp_v1_${randomBytes(16).toString('hex')}`;
  readonly userId = 'user-0001';
  /** Steps a job runs (one per poll while running). */
  steps = 3;
  outcome: 'completed' | 'error' = 'completed';
  readonly weights = randomBytes(1024 * 1024 + 123);
  readonly files = new Map<string, StoredFile>();
  readonly jobs = new Map<string, StoredJob>();
  /** $ per 1M billed tokens, for estimate-price and a completed job's total_price. */
  pricePerMillion = 0.48;
  /** The account's credit limit ($), answered as `user_limit`; `allowed_to_proceed` is price ≤ limit. */
  creditLimit = 1000;
  /** estimate-price answers "train_file_not_validated" this many times before it has a figure. */
  estimatePendingPolls = 0;
  /** Peak bytes the server held at once for a file upload (streamed: one chunk). */
  maxChunk = 0;
  private seq = 0;

  constructor() { super('/v1'); }

  // ------------------------------------------------------------------ dispatch

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/^\/v1/, '');
    const fault = this.takeFault(method, path);
    try {
      if (fault && !fault.afterHandling && !fault.delayMs) {
        req.resume();
        if (fault.drop) { req.socket.destroy(); return; }
        return this.error(res, fault.status ?? 500, 'Injected fault', 'server_error', fault.retryAfter);
      }
      if (req.headers.authorization !== `Bearer ${this.apiKey}`) {
        req.resume();
        // The real API answers a bad key with 401 and an ErrorData body naming no key.
        return this.error(res, 401, 'Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.', 'invalid_request_error', undefined, 'invalid_api_key');
      }
      const out = await this.route(method, path, url, req, res);
      if (out === 'streamed') return;
      if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault?.afterHandling) {
        if (fault.drop) { req.socket.destroy(); return; }
        return this.error(res, fault.status ?? 500, 'Internal server error', 'server_error', fault.retryAfter);
      }
      if ('error' in out) return this.error(res, out.status, out.error, out.type ?? 'invalid_request_error');
      res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
    } catch (e) {
      if (!res.headersSent) this.error(res, 500, (e as Error).message, 'server_error');
    }
  }

  private error(res: ServerResponse, status: number, message: string, type: string, retryAfter?: string, code: string | null = null): void {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (retryAfter) headers['retry-after'] = retryAfter;
    res.writeHead(status, headers).end(JSON.stringify({ error: { message, type, param: null, code } }));
  }

  private async route(method: string, path: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<{ status: number; body: unknown } | { status: number; error: string; type?: string } | 'streamed'> {
    let m: RegExpExecArray | null;
    if (method === 'POST' && path === '/files/upload') return this.upload(req);
    if (method === 'GET' && path === '/files') return { status: 200, body: { data: [...this.files.values()].map(publicFile) } };
    if ((m = /^\/files\/([^/]+)$/.exec(path))) {
      const f = this.files.get(m[1]!);
      if (!f) return { status: 404, error: `File ${m[1]} not found` };
      if (method === 'GET') return { status: 200, body: publicFile(f) };
      if (method === 'DELETE') { this.files.delete(f.id); return { status: 200, body: { id: f.id, deleted: true } }; }
    }
    if (method === 'POST' && path === '/fine-tunes') return this.create(await readJson(req));
    if (method === 'POST' && path === '/fine-tunes/estimate-price') return this.estimatePrice(await readJson(req));
    if (method === 'GET' && path === '/fine-tunes') return { status: 200, body: { data: [...this.jobs.values()].map((j) => truncated(j)) } };
    if ((m = /^\/fine-tunes\/([^/]+)(\/events|\/cancel)?$/.exec(path))) {
      const j = this.jobs.get(m[1]!);
      if (!j) return { status: 404, error: `Fine-tune job ${m[1]} not found` };
      if (method === 'GET' && !m[2]) { this.advance(j); return { status: 200, body: full(j) }; }
      if (method === 'GET' && m[2] === '/events') return { status: 200, body: { data: j.events } };
      if (method === 'POST' && m[2] === '/cancel') {
        if (!isTerminal(j.status)) { j.status = 'cancel_requested'; this.event(j, 'cancel_requested', 'Cancel requested'); }
        return { status: 200, body: truncated(j) };
      }
    }
    if (method === 'GET' && path === '/finetune/download') {
      const j = this.jobs.get(url.searchParams.get('ft_id') ?? '');
      if (!j) return { status: 404, error: 'Fine-tune job not found' };
      if (j.status !== 'completed') return { status: 400, error: `Fine-tune job ${j.id} is not completed (status ${j.status})` };
      const checkpoint = url.searchParams.get('checkpoint');
      if (checkpoint && !['merged', 'adapter', 'model_output_path'].includes(checkpoint)) return { status: 400, error: `invalid checkpoint ${checkpoint}` };
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(this.weights.length), 'content-disposition': `attachment; filename="${j.id}-${checkpoint ?? 'merged'}.tar.zst"` });
      // In slices, so a client that buffers cannot pass for one that streams on size alone.
      for (let i = 0; i < this.weights.length; i += 65536) if (!res.write(this.weights.subarray(i, i + 65536))) await new Promise((r) => res.once('drain', r));
      res.end();
      return 'streamed';
    }
    return { status: 404, error: `No route ${method} ${path}` };
  }

  // ------------------------------------------------------------------ files

  private async upload(req: IncomingMessage): Promise<{ status: number; body: unknown } | { status: number; error: string }> {
    const checker = new JsonlChecker(['conversation', 'instruction', 'text', 'preference']);
    const parts = await readMultipart(req, undefined, (_p, chunk) => { this.maxChunk = Math.max(this.maxChunk, chunk.length); checker.feed(chunk); });
    const field = (n: string) => parts.find((p) => p.name === n && p.filename === undefined)?.text;
    const file = parts.find((p) => p.name === 'file' && p.filename !== undefined);
    const purpose = field('purpose');
    const fileName = field('file_name');
    if (!file || !purpose || !fileName) return { status: 400, error: 'purpose, file_name and file are required' };
    if (!['fine-tune', 'eval', 'eval-sample', 'eval-output', 'eval-summary', 'batch-generated', 'batch-api'].includes(purpose)) return { status: 400, error: `invalid purpose ${purpose}` };
    const fileType = field('file_type') ?? 'jsonl';
    const report = checker.end();
    const valid = !report.error && report.examples > 0;
    const f: StoredFile = {
      id: `file-${randomBytes(8).toString('hex')}`, object: 'file', created_at: Math.floor(Date.now() / 1000), filename: fileName,
      bytes: file.size, purpose, Processed: true, FileType: fileType, LineCount: report.lines,
      processing_status: purpose !== 'fine-tune' || valid ? 'COMPLETED' : 'INVALID_FORMAT',
      validation_report: valid ? { valid: true, dataset_format: [...report.shapes][0]?.toUpperCase() } : { valid: false, error: report.error ?? 'file has no examples' },
      sha256: file.sha256,
    };
    this.files.set(f.id, f);
    return { status: 200, body: publicFile(f) };
  }

  // ------------------------------------------------------------------ fine-tunes

  private create(body: Record<string, unknown>): { status: number; body: unknown } | { status: number; error: string } {
    if (typeof body.model !== 'string' || typeof body.training_file !== 'string') return { status: 400, error: 'model and training_file are required' };
    const file = this.files.get(body.training_file);
    if (!file) return { status: 400, error: `training_file ${body.training_file} not found` };
    if (file.processing_status !== 'COMPLETED') return { status: 400, error: `training_file ${file.id} failed validation: ${file.validation_report.error}` };
    if (typeof body.suffix === 'string' && body.suffix.length > 64) return { status: 400, error: 'suffix must be at most 64 characters' };
    const now = new Date().toISOString();
    const id = `ft-${randomBytes(4).toString('hex')}-${(++this.seq).toString(16).padStart(4, '0')}-${randomBytes(2).toString('hex')}`;
    const base = body.model.split('/').pop()!;
    const j: StoredJob = {
      id, status: 'pending', created_at: now, updated_at: now, user_id: this.userId, model: body.model,
      model_output_name: `${this.userId}/${base}${body.suffix ? `-${body.suffix as string}` : ''}-${createHash('sha1').update(id).digest('hex').slice(0, 6)}`,
      suffix: body.suffix as string | undefined, training_file: file.id, validation_file: body.validation_file as string | undefined,
      n_epochs: (body.n_epochs as number) ?? 1, learning_rate: (body.learning_rate as number) ?? 0.00001,
      training_type: body.training_type ?? { type: 'Lora', lora_r: 8, lora_alpha: 16 }, training_method: body.training_method ?? { method: 'sft' },
      from_checkpoint: body.from_checkpoint as string | undefined,
      epochs_completed: 0, token_count: tokensOf(file), total_price: 0, trainingfile_numlines: file.LineCount, trainingfile_size: file.bytes,
      events: [], steps: this.steps, step: 0, outcome: this.outcome,
    };
    this.jobs.set(id, j);
    this.event(j, 'job_pending', 'Fine tune request created');
    return { status: 200, body: truncated(j) };
  }

  private estimatePrice(body: Record<string, unknown>): { status: number; body: unknown } | { status: number; error: string } {
    if (typeof body.training_file !== 'string') return { status: 400, error: 'training_file is required' };
    const train = this.files.get(body.training_file);
    if (!train) return { status: 404, error: `File ${body.training_file} not found` };
    const val = typeof body.validation_file === 'string' ? this.files.get(body.validation_file) : undefined;
    if (typeof body.validation_file === 'string' && !val) return { status: 404, error: `File ${body.validation_file} not found` };
    if (this.estimatePendingPolls > 0) {
      this.estimatePendingPolls--;
      return { status: 200, body: { estimation_available: false, unavailable_reason: 'train_file_not_validated' } };
    }
    if (train.processing_status !== 'COMPLETED') return { status: 200, body: { estimation_available: false, unavailable_reason: 'train_file_invalid' } };
    if (val && val.processing_status !== 'COMPLETED') return { status: 200, body: { estimation_available: false, unavailable_reason: 'eval_file_invalid' } };
    const epochs = typeof body.n_epochs === 'number' ? body.n_epochs : 1;
    const evals = typeof body.n_evals === 'number' && val ? body.n_evals : 0;
    const trainTokens = tokensOf(train) * epochs;
    const evalTokens = val ? tokensOf(val) * evals : 0;
    const price = Math.round((trainTokens + evalTokens) * this.pricePerMillion) / 1_000_000;
    return { status: 200, body: {
      estimation_available: true, estimated_total_price: price, estimated_train_token_count: trainTokens, estimated_eval_token_count: evalTokens,
      allowed_to_proceed: price <= this.creditLimit, user_limit: this.creditLimit,
    } };
  }

  /** One stage per poll: pending → queued → running (one step each) → compressing → uploading → completed. */
  private advance(j: StoredJob): void {
    const next: Partial<Record<TogetherStatus, () => void>> = {
      pending: () => { j.status = 'queued'; },
      queued: () => { j.status = 'running'; j.started_at = new Date().toISOString(); this.event(j, 'training_start', 'Training started'); },
      running: () => {
        if (j.outcome === 'error' && j.step >= 1) { j.status = 'error'; this.event(j, 'job_error', 'CUDA out of memory at step 2', 'error'); return; }
        j.step++;
        j.epochs_completed = Math.floor((j.step / j.steps) * j.n_epochs);
        this.event(j, 'checkpoint_save', `Training step ${j.step}/${j.steps}`, 'info', { step: j.step, total_steps: j.steps });
        if (j.step >= j.steps) { j.status = 'compressing'; this.event(j, 'model_compressing', 'Compressing output model'); }
      },
      compressing: () => { j.status = 'uploading'; this.event(j, 'model_uploading', 'Uploading output model'); },
      uploading: () => {
        j.status = 'completed'; j.total_price = Math.round(j.token_count * j.n_epochs * this.pricePerMillion) / 1_000_000;
        this.event(j, 'job_complete', `Fine-tuning job completed; model ${j.model_output_name}`, 'info', { model_path: `s3://together/${j.id}` });
      },
      cancel_requested: () => { j.status = 'cancelled'; this.event(j, 'job_stopped', 'Job cancelled'); },
    };
    next[j.status]?.();
    j.updated_at = new Date().toISOString();
  }

  private event(j: StoredJob, type: string, message: string, level: string | null = 'info', extra: Partial<StoredJob['events'][number]> = {}): void {
    j.events.push({ object: 'fine-tune-event', created_at: new Date().toISOString(), message, type, level, ...extra });
  }
}

/** The stand-in's tokenizer: 100 tokens a line (the real one counts after its own tokenization step). */
const tokensOf = (f: StoredFile): number => f.LineCount * 100;

const isTerminal = (s: TogetherStatus) => s === 'completed' || s === 'cancelled' || s === 'error';

function publicFile(f: StoredFile): Omit<StoredFile, 'sha256'> {
  const { sha256: _omit, ...rest } = f;
  return rest;
}

/** POST /fine-tunes, GET /fine-tunes and cancel answer a truncated job (no events). */
function truncated(j: StoredJob): Record<string, unknown> {
  const { events: _e, steps: _s, step: _st, outcome: _o, ...rest } = j;
  return rest;
}

function full(j: StoredJob): Record<string, unknown> {
  const running = j.status === 'running';
  return { ...truncated(j), events: j.events, progress: { estimate_available: running, seconds_remaining: running ? (j.steps - j.step) * 60 : 0 } };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try { return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>; } catch { return {}; }
}
