import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { parseRetryAfter } from '../../core/net/retry-after';
import { streamedRequest, type BodyPart } from '../streamed-http';
import { once } from 'node:events';
import http from 'node:http';

/**
 * The `fetch` we hand to the `replicate` client. The client's own retry loop (lib/util.js
 * withAutomaticRetries) retries immediately, ignores `Retry-After`, and — because it swallows any
 * thrown error — would resend a POST whose connection dropped after the server created the job. So:
 *
 * - 429 closes a gate until `Retry-After`; every request (including the client's retries) waits at it.
 * - 5xx / network errors on GET close the gate with exponential back-off, so retries are spaced out.
 * - A network error on a non-GET never reaches the client as a throw: it becomes a synthetic response
 *   (status 599, header `x-cloudtrain-transport`) that the client does not retry; the caller then
 *   looks the job up before ever creating again.
 * - The package upload (a multipart body inside `uploadScope`) is streamed from disk with node:http,
 *   with back-pressure and progress (see nodeUpload).
 */
export const TRANSPORT_HEADER = 'x-cloudtrain-transport';
export const TRANSPORT_STATUS = 599;
const UPLOAD_IDLE_TIMEOUT_MS = 120_000;

export interface TransportOptions {
  fetch?: typeof fetch;
  /** Per-request timeout for ordinary calls (not uploads). */
  requestTimeoutMs?: number;
  /** Upper bound on one Retry-After wait. */
  maxRetryAfterMs?: number;
  /** First back-off after a 5xx/network error on GET; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
}

export interface UploadScope {
  totalBytes: number;
  /** The package on disk: streamed from here instead of through fetch. */
  path?: string;
  /** File name of the package part in the form (tells it from the small metadata part). */
  name?: string;
  onProgress(sent: number, total: number): void;
}

/** Wraps one upload call so the transport can report its progress. */
export const uploadScope = new AsyncLocalStorage<UploadScope>();

export class Transport {
  private gateUntil = 0;
  private failures = 0;
  /** Why the gate is closed (shown as status detail). */
  lastThrottle: { reason: string; until: number } | undefined;
  /** Replicate's clock minus ours, from the last response's `Date` header (RFC 9110 §6.6.1; 1 s resolution). */
  serverOffsetMs = 0;
  readonly fetch: typeof fetch;
  private readonly inner: typeof fetch;

  constructor(private readonly opts: TransportOptions = {}) {
    this.inner = opts.fetch ?? globalThis.fetch;
    this.fetch = (input, init) => this.send(input, init);
  }

  private now(): number { return this.opts.now?.() ?? Date.now(); }

  /** Milliseconds until requests may go out again (0 when open). */
  waitMs(): number { return Math.max(0, this.gateUntil - this.now()); }

  private async send(input: Parameters<typeof fetch>[0], init: RequestInit = {}): Promise<Response> {
    await sleepUntil(this.gateUntil, init.signal ?? undefined, () => this.now());
    const method = (init.method ?? 'GET').toUpperCase();
    const upload = init.body instanceof FormData ? uploadScope.getStore() : undefined;
    const signals = [init.signal, upload ? undefined : AbortSignal.timeout(this.opts.requestTimeoutMs ?? 60_000)].filter((s): s is AbortSignal => !!s);
    const req: RequestInit = { ...init, signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0] };
    let res: Response;
    try {
      res = upload?.path && init.body instanceof FormData
        ? await nodeUpload(input, req, init.body, upload as UploadScope & { path: string })
        : await this.inner(input, req);
    } catch (e) {
      if (init.signal?.aborted) throw e;
      this.backOff(`connection failed (${describe(e)})`);
      if (method === 'GET') throw e;
      return new Response(JSON.stringify({ detail: `connection failed during ${method}: ${describe(e)}` }), {
        status: TRANSPORT_STATUS,
        headers: { [TRANSPORT_HEADER]: '1', 'content-type': 'application/json' },
      });
    }
    const date = Date.parse(res.headers.get('date') ?? '');
    if (!Number.isNaN(date)) this.serverOffsetMs = date - this.now();
    if (res.status === 429) {
      const ms = Math.min(parseRetryAfter(res.headers.get('retry-after'), this.now()) ?? 1000, this.opts.maxRetryAfterMs ?? 300_000);
      this.gateUntil = Math.max(this.gateUntil, this.now() + ms);
      this.lastThrottle = { reason: 'rate limited by Replicate', until: this.gateUntil };
    } else if (res.status >= 500 && method === 'GET') {
      this.backOff(`HTTP ${res.status}`);
    } else if (res.ok) {
      this.failures = 0;
      this.lastThrottle = undefined;
    }
    return res;
  }

  private backOff(reason: string): void {
    const ms = Math.min((this.opts.backoffMs ?? 250) * 2 ** this.failures, this.opts.maxBackoffMs ?? 8000);
    this.failures++;
    this.gateUntil = Math.max(this.gateUntil, this.now() + ms);
    this.lastThrottle = { reason, until: this.gateUntil };
  }
}

function describe(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return 'timed out';
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}

function sleepUntil(at: number, signal: AbortSignal | undefined, now: () => number): Promise<void> {
  const ms = at - now();
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * POST a multipart form whose big part is the package file, with node:http and real back-pressure:
 * the file is read from disk only as fast as the socket drains. (Undici's fetch in Node 20 buffers an
 * upload body far ahead of the socket — about the whole file — so it is not used for packages.)
 * Small parts (metadata) are encoded in memory; Content-Length is exact.
 */
async function nodeUpload(input: Parameters<typeof fetch>[0], init: RequestInit, form: FormData, scope: UploadScope & { path: string }): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const boundary = `----cloudtrain${randomBytes(12).toString('hex')}`;
  const quote = (v: string) => v.replace(/"/g, '%22').replace(/\r|\n/g, ' ');
  const parts: BodyPart[] = [];
  const entries: [string, FormDataEntryValue][] = [];
  form.forEach((value, name) => entries.push([name, value]));
  for (const [name, value] of entries) {
    if (typeof value === 'string') {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`));
      continue;
    }
    const file = value as File;
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"; filename="${quote(file.name || 'blob')}"\r\nContent-Type: ${file.type || 'application/octet-stream'}\r\n\r\n`));
    const isPackage = file.size === scope.totalBytes && (!scope.name || file.name === scope.name);
    parts.push(isPackage ? { path: scope.path, size: file.size } : Buffer.from(await file.arrayBuffer()));
    parts.push(Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((v, k) => { headers[k] = v; });
  headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
  let lastReport = 0;
  const res = await streamedRequest({
    url: url.toString(), method: init.method ?? 'POST', headers, parts, signal: init.signal ?? undefined,
    // No overall deadline for a big upload, but a stalled connection must not hang the submission.
    idleTimeoutMs: UPLOAD_IDLE_TIMEOUT_MS,
    onProgress: (sent) => { if (Date.now() - lastReport > 200) { lastReport = Date.now(); scope.onProgress(sent, scope.totalBytes); } },
  });
  scope.onProgress(scope.totalBytes, scope.totalBytes);
  return res;
}
