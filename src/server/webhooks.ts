import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Replicate's (Svix-style) webhooks: `webhook-signature` holds space-separated `v1,<base64>` entries,
 * each an HMAC-SHA256 of `${webhook-id}.${webhook-timestamp}.${body}` keyed by the base64 part of the
 * `whsec_…` secret. We check them in constant time, refuse timestamps more than 5 minutes away, and
 * refuse an id seen before (a replay), remembering ids for as long as their timestamp is acceptable.
 */

export const DEFAULT_TOLERANCE_SECONDS = 300;

export type WebhookVerdict = { ok: true } | { ok: false; reason: 'missing-headers' | 'bad-timestamp' | 'timestamp-out-of-tolerance' | 'bad-secret' | 'signature-mismatch' };

export function verifyWebhookSignature(opts: {
  id: string | undefined;
  timestamp: string | undefined;
  signatureHeader: string | undefined;
  body: string | Buffer;
  secret: string;
  nowSeconds?: number;
  toleranceSeconds?: number;
}): WebhookVerdict {
  const { id, timestamp, signatureHeader } = opts;
  if (!id || !timestamp || !signatureHeader) return { ok: false, reason: 'missing-headers' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad-timestamp' };
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > (opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    return { ok: false, reason: 'timestamp-out-of-tolerance' };
  }
  const keyPart = opts.secret.startsWith('whsec_') ? opts.secret.slice(6) : opts.secret;
  const key = Buffer.from(keyPart, 'base64');
  if (key.length === 0) return { ok: false, reason: 'bad-secret' };
  const expected = createHmac('sha256', key)
    .update(`${id}.${timestamp}.`)
    .update(typeof opts.body === 'string' ? Buffer.from(opts.body, 'utf8') : opts.body)
    .digest();
  let match = false;
  for (const entry of signatureHeader.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(entry.slice(comma + 1), 'base64');
    // Compare every entry (no early exit) so timing says nothing about which one matched.
    if (given.length === expected.length && timingSafeEqual(given, expected)) match = true;
  }
  return match ? { ok: true } : { ok: false, reason: 'signature-mismatch' };
}

/** Signs a payload the way the sender does; for tests and for local tooling that replays events. */
export function signWebhook(opts: { id: string; timestamp: number; body: string; secret: string }): string {
  const key = Buffer.from(opts.secret.startsWith('whsec_') ? opts.secret.slice(6) : opts.secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${opts.id}.${opts.timestamp}.${opts.body}`).digest('base64')}`;
}

export interface WebhookRoutes {
  /** The signing secret for this provider, or undefined when it takes no webhooks. */
  getSecret(provider: string): string | undefined | Promise<string | undefined>;
  /** Called once per verified, new delivery. A throw answers 500 so the sender retries. */
  handler(provider: string, payload: unknown): Promise<void>;
  toleranceSeconds?: number;
  nowSeconds?: () => number;
}

const MAX_BODY = 1024 * 1024;

export function createWebhookRoute(routes: WebhookRoutes, log?: (line: string) => void): (req: IncomingMessage, res: ServerResponse, provider: string) => Promise<void> {
  const tolerance = routes.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const nowSeconds = routes.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  /** `${provider}:${id}` → when it can be forgotten (its timestamp is then out of tolerance anyway). */
  const seen = new Map<string, number>();

  return async (req, res, provider) => {
    const reply = (status: number, body: Record<string, unknown>): void => {
      if (!req.complete) res.setHeader('Connection', 'close');
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST') return reply(405, { error: 'POST only' });
    if (!/^[a-z0-9-]{1,32}$/.test(provider)) return reply(404, { error: 'unknown provider' });
    const secret = await routes.getSecret(provider);
    if (!secret) return reply(404, { error: `no webhook secret configured for ${provider}` });

    if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) return reply(413, { error: 'body too large' });
      chunks.push(c as Buffer);
    }
    const body = Buffer.concat(chunks);
    const header = (n: string): string | undefined => {
      const v = req.headers[n];
      return Array.isArray(v) ? v[0] : v;
    };
    const id = header('webhook-id');
    const now = nowSeconds();
    const verdict = verifyWebhookSignature({
      id, timestamp: header('webhook-timestamp'), signatureHeader: header('webhook-signature'), body, secret, nowSeconds: now, toleranceSeconds: tolerance,
    });
    if (!verdict.ok) {
      log?.(`webhook ${provider} refused: ${verdict.reason}`);
      return reply(401, { error: verdict.reason });
    }
    for (const [k, until] of seen) if (until < now) seen.delete(k);
    const seenKey = `${provider}:${id}`;
    if (seen.has(seenKey)) {
      log?.(`webhook ${provider} refused: replayed id ${id}`);
      return reply(409, { error: 'replayed webhook-id' });
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return reply(400, { error: 'body is not JSON' });
    }
    seen.set(seenKey, Number(header('webhook-timestamp')) + tolerance + 1);
    try {
      await routes.handler(provider, payload);
    } catch (e) {
      // Let the sender's retry through: it is the same delivery, not a replay.
      seen.delete(seenKey);
      log?.(`webhook ${provider} handler failed: ${(e as Error).message}`);
      return reply(500, { error: 'handler failed' });
    }
    reply(200, { ok: true });
  };
}
