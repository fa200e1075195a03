import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseRetryAfter } from '../core/net/retry-after';

export { parseRetryAfter };

/**
 * Streamed request bodies for provider uploads (Replicate's package, Together's and Fireworks' datasets):
 * a file goes from disk to the socket with back-pressure, never whole in memory. (Node 20's fetch buffers an upload
 * body far ahead of the socket, so it is not used for files; see replicate/transport.ts.)
 */
export type BodyPart = Buffer | { path: string; size: number };

export interface StreamedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  parts: BodyPart[];
  signal?: AbortSignal;
  /** Bytes of file parts sent so far. */
  onProgress?(sent: number, total: number): void;
  /** A stalled connection fails after this long without progress. */
  idleTimeoutMs?: number;
}

/** A multipart/form-data body: small text fields, then one file streamed from disk. */
export function multipartBody(fields: Record<string, string>, file: { field: string; filename: string; path: string; size: number; contentType?: string }): { parts: BodyPart[]; contentType: string } {
  const boundary = `----cloudtrain${randomBytes(12).toString('hex')}`;
  const quote = (v: string) => v.replace(/"/g, '%22').replace(/\r|\n/g, ' ');
  const parts: BodyPart[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(file.field)}"; filename="${quote(file.filename)}"\r\nContent-Type: ${file.contentType ?? 'application/octet-stream'}\r\n\r\n`));
  parts.push({ path: file.path, size: file.size });
  parts.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return { parts, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Send `parts` with an exact Content-Length; resolves with the (small) answer as a fetch Response. */
export function streamedRequest(r: StreamedRequest): Promise<Response> {
  const url = new URL(r.url);
  const length = r.parts.reduce((n, p) => n + (Buffer.isBuffer(p) ? p.length : p.size), 0);
  const fileBytes = r.parts.reduce((n, p) => n + (Buffer.isBuffer(p) ? 0 : p.size), 0);
  const headers = { ...r.headers, 'content-length': String(length) };
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<Response>((resolve, reject) => {
    const req = mod.request(url, { method: r.method, headers, signal: r.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        const status = res.statusCode ?? 500;
        resolve(new Response(status === 204 ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers: h }));
      });
    });
    req.on('error', (e) => reject(Object.assign(new TypeError('fetch failed'), { cause: e })));
    req.setTimeout(r.idleTimeoutMs ?? 120_000, () => req.destroy(Object.assign(new Error('upload stalled'), { code: 'ETIMEDOUT' })));
    void (async () => {
      let sent = 0;
      for (const p of r.parts) {
        const source: AsyncIterable<Buffer> = Buffer.isBuffer(p) ? [p] as unknown as AsyncIterable<Buffer> : createReadStream(p.path, { highWaterMark: 64 * 1024 });
        for await (const chunk of source) {
          if (req.destroyed) return;
          if (!req.write(chunk)) await drained(req);
          if (!Buffer.isBuffer(p)) { sent += chunk.length; r.onProgress?.(sent, fileBytes); }
        }
      }
      req.end();
    })().catch((e) => req.destroy(e as Error));
  });
}

/** Wait until the socket takes more, or the request is gone; leaves no listener behind. */
function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { req.off('drain', done); req.off('close', done); resolve(); };
    req.on('drain', done);
    req.on('close', done);
  });
}


/** Remove the API key (and anything shaped like a bearer header) from text bound for a message or log. */
export function scrubSecret(text: string, secret: string | undefined): string {
  let out = text;
  if (secret && secret.length >= 4) out = out.split(secret).join('***');
  return out.replace(/Bearer\s+\S+/gi, 'Bearer ***');
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Network-level failure description (no URL, no headers). */
export function describeNetworkError(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return 'timed out';
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}
