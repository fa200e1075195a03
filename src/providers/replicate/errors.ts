import { TRANSPORT_HEADER } from './transport';

/**
 * Every failure leaving the Replicate provider is one of these: a message in words, the HTTP status
 * when there was one, and whether retrying later may help. The token is scrubbed from every message.
 */
export class ReplicateError extends Error {
  override readonly name = 'ReplicateError';
  constructor(
    message: string,
    readonly status?: number,
    /** 429, 5xx, timeouts, dropped connections: try again later. */
    readonly transient = false,
    /** A create whose outcome we cannot know (5xx, timeout, dropped connection): look it up before retrying. */
    readonly unknownOutcome = false,
  ) {
    super(message);
  }
}

interface ApiErrorLike { name: string; message: string; response: Response }

const isApiError = (e: unknown): e is ApiErrorLike =>
  typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'ApiError' && (e as { response?: unknown }).response instanceof Response;

/** Replicate answers errors as problem JSON: {title, detail, status}. The client embeds it in its message. */
function detailOf(message: string): string | undefined {
  const i = message.indexOf(': {');
  if (i < 0) return undefined;
  const json = message.slice(i + 2).replace(/\.\s*$/, '');
  try {
    const body = JSON.parse(json) as { detail?: unknown; title?: unknown };
    const d = typeof body.detail === 'string' ? body.detail : typeof body.title === 'string' ? body.title : undefined;
    return d;
  } catch {
    return undefined;
  }
}

export function scrub(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
  // Belt and braces: anything that looks like a Replicate token or a bearer header.
  return out.replace(/r8_[A-Za-z0-9]{8,}/g, 'r8_***').replace(/Bearer\s+\S+/gi, 'Bearer ***');
}

/** Turn whatever the client threw into a ReplicateError with a clear, secret-free message. */
export function toReplicateError(e: unknown, what: string, secrets: readonly (string | undefined)[], baseUrl: string): ReplicateError {
  if (e instanceof ReplicateError) return new ReplicateError(scrub(e.message, secrets), e.status, e.transient, e.unknownOutcome);
  const clean = (s: string) => scrub(s, secrets);
  if (isApiError(e)) {
    const status = e.response.status;
    const detail = detailOf(e.message);
    const tail = detail ? `: ${detail}` : '';
    if (e.response.headers.get(TRANSPORT_HEADER)) {
      const why = detail?.replace(/^connection failed during \w+: /, '') ?? 'no answer';
      return new ReplicateError(clean(`${what}: the connection to Replicate failed before an answer came (${why})`), undefined, true, true);
    }
    if (status === 401 || status === 403) {
      return new ReplicateError(clean(`${what}: Replicate rejected the API token (HTTP ${status}). Set a valid token with "Cloud Training: Set Replicate API Token" or REPLICATE_API_TOKEN.`), status);
    }
    if (status === 404) return new ReplicateError(clean(`${what}: not found on Replicate${tail}`), status);
    if (status === 422) return new ReplicateError(clean(`${what}: Replicate refused the request${tail}`), status);
    if (status === 429) return new ReplicateError(clean(`${what}: rate limited by Replicate${tail}`), status, true);
    if (status >= 500) return new ReplicateError(clean(`${what}: Replicate server error (HTTP ${status})${tail}`), status, true, true);
    return new ReplicateError(clean(`${what}: HTTP ${status}${tail}`), status);
  }
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'AbortError' && !(err.message ?? '').includes('timeout')) return new ReplicateError(`${what}: cancelled`);
  const reason = err?.name === 'TimeoutError' ? 'timed out' : err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
  return new ReplicateError(clean(`${what}: cannot reach Replicate at ${baseUrl} (${reason})`), undefined, true, true);
}
