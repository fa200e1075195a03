import type { z } from 'zod';
import { parseRetryAfter } from '../net/retry-after';

/**
 * The HTTP layer shared by the Lambda, DigitalOcean and RunPod clients: bearer auth, zod at the
 * boundary, one error type whose message never carries the API key, and bounded retries.
 *
 * Retries (429 honouring Retry-After, 5xx, dropped connections) happen ONLY for reads (GET): a
 * launch that timed out may still have created a machine, so it is never re-sent here — the lease
 * core finds it by its tag instead.
 */

export type CloudErrorKind = 'auth' | 'not-found' | 'rate-limited' | 'capacity' | 'bad-request' | 'server' | 'network' | 'invalid-response';

export class CloudApiError extends Error {
  constructor(
    message: string,
    readonly kind: CloudErrorKind,
    readonly status?: number,
    /** The provider's machine-readable code (Lambda `error.code`, DigitalOcean `id`). */
    readonly code?: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'CloudApiError';
  }

  /**
   * True when the provider answered and refused, so nothing was created (safe to call it "not
   * billed"); false for network errors and 5xx, after which a create may or may not have happened.
   */
  get definitelyRejected(): boolean {
    if (this.kind === 'capacity' || this.kind === 'auth' || this.kind === 'bad-request') return true;
    return this.status !== undefined && this.status >= 400 && this.status < 500;
  }
}

export interface HttpOptions {
  /** Provider name used in messages ("Lambda Cloud"). */
  label: string;
  baseUrl: string;
  apiKey: string;
  /** Where the user fixes a bad key, for the one 401 message. */
  keyHint: string;
  /** Attempts for idempotent reads (default 4). */
  readAttempts?: number;
  /** Longest Retry-After we wait before giving up (default 30 s). */
  maxRetryAfterMs?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** Injected for tests (no real waiting). */
  sleep?: (ms: number) => Promise<void>;
  fetchImpl?: typeof fetch;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Map a 4xx body to a better error (capacity codes etc.). */
  classify?: (status: number, body: unknown) => { kind: CloudErrorKind; code?: string; message?: string } | undefined;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class CloudHttp {
  constructor(private readonly o: HttpOptions) {
    if (!o.apiKey) throw new CloudApiError(`${o.label}: no API key (${o.keyHint})`, 'auth');
  }

  async request<S extends z.ZodType>(method: 'GET' | 'POST' | 'DELETE' | 'PUT', path: string, schema: S, ro: RequestOptions = {}): Promise<z.infer<S>> {
    const raw = await this.send(method, path, ro);
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CloudApiError(`${this.o.label}: unexpected response to ${method} ${path} (${issue?.path.join('.') || '<root>'}: ${issue?.message})`, 'invalid-response');
    }
    return parsed.data;
  }

  /** Raw JSON (or undefined for an empty body). */
  async send(method: string, path: string, ro: RequestOptions = {}): Promise<unknown> {
    const idempotent = method === 'GET';
    const attempts = idempotent ? (this.o.readAttempts ?? 4) : 1;
    const sleep = this.o.sleep ?? realSleep;
    let last: CloudApiError | undefined;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await sleep(last?.retryAfterMs ?? Math.min(500 * 2 ** (i - 1), 8_000));
      try {
        return await this.once(method, path, ro);
      } catch (e) {
        if (!(e instanceof CloudApiError)) throw e;
        last = e;
        const retryable = e.kind === 'server' || e.kind === 'network'
          || (e.kind === 'rate-limited' && (e.retryAfterMs ?? 0) <= (this.o.maxRetryAfterMs ?? 30_000));
        if (!retryable || ro.signal?.aborted) throw e;
      }
    }
    throw last!;
  }

  private async once(method: string, path: string, ro: RequestOptions): Promise<unknown> {
    const url = new URL(this.o.baseUrl.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(ro.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const timeout = AbortSignal.timeout(this.o.timeoutMs ?? 30_000);
    const signal = ro.signal ? AbortSignal.any([ro.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await (this.o.fetchImpl ?? fetch)(url, {
        method,
        headers: {
          authorization: `Bearer ${this.o.apiKey}`,
          accept: 'application/json',
          ...(ro.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: ro.body !== undefined ? JSON.stringify(ro.body) : undefined,
        signal,
      });
    } catch (e) {
      if (ro.signal?.aborted) throw e;
      // Never echo the request (it carries the key); the cause's message is the socket's.
      throw new CloudApiError(`${this.o.label}: ${method} ${path} failed: ${this.scrub(causeMessage(e))}`, 'network');
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw new CloudApiError(`${this.o.label}: ${method} ${path}: connection dropped while reading the answer (${this.scrub(causeMessage(e))})`, 'network', res.status);
    }
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    if (res.ok) return body;
    throw this.errorFor(res, method, path, body, ro);
  }

  private errorFor(res: Response, method: string, path: string, body: unknown, ro: RequestOptions): CloudApiError {
    const status = res.status;
    const detail = this.scrub(providerMessage(body) ?? res.statusText);
    const code = providerCode(body);
    if (status === 401 || status === 403) {
      return new CloudApiError(`${this.o.label} rejected the API key (HTTP ${status}). Check it: ${this.o.keyHint}.`, 'auth', status, code);
    }
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      return new CloudApiError(`${this.o.label}: rate limited on ${method} ${path}${retryAfterMs !== undefined ? `; retry after ${Math.ceil(retryAfterMs / 1000)} s` : ''}`, 'rate-limited', status, code, retryAfterMs ?? 2_000);
    }
    const custom = ro.classify?.(status, body);
    if (custom) return new CloudApiError(`${this.o.label}: ${custom.message ?? detail}`, custom.kind, status, custom.code ?? code);
    if (status === 404) return new CloudApiError(`${this.o.label}: not found: ${method} ${path} (${detail})`, 'not-found', status, code);
    if (status >= 500) return new CloudApiError(`${this.o.label}: server error ${status} on ${method} ${path} (${detail})`, 'server', status, code);
    return new CloudApiError(`${this.o.label}: ${method} ${path} refused (HTTP ${status}): ${detail}`, 'bad-request', status, code);
  }

  /** Defence in depth: a server echoing the key back must not put it in our messages. */
  private scrub(s: string): string {
    return this.o.apiKey.length >= 4 ? s.split(this.o.apiKey).join('***') : s;
  }
}

function causeMessage(e: unknown): string {
  const err = e as Error & { cause?: Error & { code?: string } };
  return err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
}

/** Lambda `{error:{code,message}}`, DigitalOcean `{id,message}`, RunPod `{error}` or `{message}`. */
function providerMessage(body: unknown): string | undefined {
  if (typeof body === 'string') return body.slice(0, 300) || undefined;
  if (!body || typeof body !== 'object') return undefined;
  const b = body as { error?: unknown; message?: unknown };
  if (b.error && typeof b.error === 'object') {
    const e = b.error as { message?: unknown; suggestion?: unknown };
    if (typeof e.message === 'string') return typeof e.suggestion === 'string' ? `${e.message} (${e.suggestion})` : e.message;
  }
  if (typeof b.error === 'string') return b.error;
  if (typeof b.message === 'string') return b.message;
  return undefined;
}

function providerCode(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as { error?: { code?: unknown }; id?: unknown };
  if (b.error && typeof b.error === 'object' && typeof b.error.code === 'string') return b.error.code;
  if (typeof b.id === 'string') return b.id;
  return undefined;
}

