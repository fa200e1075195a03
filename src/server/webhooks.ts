import { createHmac, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import * as z from 'zod';
import { writeFileAtomic } from '../core/fs/atomic';
import { DEFAULT_IDLE_TIMEOUT_MS, RequestBody } from './s3/request-body';

/**
 * Replicate's (Svix-style) webhooks: `webhook-signature` holds space-separated `v1,<base64>` entries,
 * each an HMAC-SHA256 of `${webhook-id}.${webhook-timestamp}.${body}` keyed by the base64 part of the
 * `whsec_…` secret. We check them in constant time, refuse timestamps more than 5 minutes away, and
 * refuse an id seen before (a replay), remembering ids for as long as their timestamp is acceptable —
 * in a small file too, so a restarted server still refuses a delivery it accepted before.
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

/** Where a server keeps the webhook ids it accepted, under its state folder. */
export const replayFile = (stateDir: string): string => path.join(stateDir, 'webhook-replay.json');

/** Longest `webhook-id` taken (Svix ids are ~30 characters); longer ones are refused before anything is remembered. */
export const MAX_WEBHOOK_ID_LENGTH = 256;
/** A replay key is `${provider}:${id}`: provider ≤ 32 characters, a colon, the id. */
const MAX_REPLAY_KEY_LENGTH = 32 + 1 + MAX_WEBHOOK_ID_LENGTH;
const MAX_REPLAY_ENTRIES = 100_000;

const ReplayEntrySchema = z.object({ key: z.string().min(1).max(MAX_REPLAY_KEY_LENGTH), until: z.number().int() });
/** The envelope only: entries are checked one by one so one bad entry never costs the others. */
const ReplayFileSchema = z.object({
  version: z.literal(1),
  /** `${provider}:${id}` and the time (epoch seconds) after which it can be forgotten. */
  seen: z.array(z.unknown()),
});

/**
 * Webhook ids accepted recently, in memory and (when given a file) on disk: loaded once, pruned to
 * ids whose timestamp is still within tolerance, rewritten atomically on each change. Deliveries are
 * rare, so the file stays tiny. A damaged file is logged and treated as empty; it never stops the server.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  private loaded: Promise<void> | undefined;
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly file: string | undefined, private readonly log?: (line: string) => void) {}

  /** Reads the file (once); every later call resolves at once. */
  load(): Promise<void> {
    this.loaded ??= this.read();
    return this.loaded;
  }

  private async read(): Promise<void> {
    if (!this.file) return;
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log?.(`webhook replay file unreadable, starting empty: ${(e as Error).message}`);
      return;
    }
    let parsed;
    try {
      parsed = ReplayFileSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      this.log?.(`webhook replay file ${this.file} is damaged; treating it as empty`);
      return;
    }
    let bad = 0;
    for (const raw of parsed.data.seen.slice(-MAX_REPLAY_ENTRIES)) {
      const entry = ReplayEntrySchema.safeParse(raw);
      if (entry.success) this.seen.set(entry.data.key, entry.data.until);
      else bad++;
    }
    if (bad) this.log?.(`webhook replay file ${this.file}: skipped ${bad} damaged entr${bad === 1 ? 'y' : 'ies'}, kept ${this.seen.size}`);
  }

  /** Forgets ids whose time is past; call before `has`. */
  prune(nowSeconds: number): void {
    for (const [k, until] of this.seen) if (until < nowSeconds) this.seen.delete(k);
  }

  has(key: string): boolean {
    return this.seen.has(key);
  }

  /** Remembers `key` until `until`; resolves once that reached the disk (a failed write is logged, not thrown). */
  add(key: string, until: number): Promise<void> {
    this.seen.set(key, until);
    return this.persist();
  }

  delete(key: string): Promise<void> {
    this.seen.delete(key);
    return this.persist();
  }

  /** Resolves once every write so far finished. */
  flush(): Promise<void> {
    return this.writes;
  }

  private persist(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    this.writes = this.writes.then(async () => {
      try {
        const seen = [...this.seen].map(([key, until]) => ({ key, until }));
        await writeFileAtomic(file, JSON.stringify({ version: 1, seen }));
      } catch (e) {
        this.log?.(`could not save webhook replay file: ${(e as Error).message}`);
      }
    });
    return this.writes;
  }
}

export type WebhookRoute = ((req: IncomingMessage, res: ServerResponse, provider: string) => Promise<void>) & {
  /** Resolves once the replay file is written (call before closing the server). */
  flush(): Promise<void>;
};

/** `replayPath`: the file accepted ids persist in (see `replayFile`); omit it to keep them in memory only. */
export function createWebhookRoute(routes: WebhookRoutes, log?: (line: string) => void, replayPath?: string, idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS): WebhookRoute {
  const tolerance = routes.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const nowSeconds = routes.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  /** `${provider}:${id}` → when it can be forgotten (its timestamp is then out of tolerance anyway). */
  const seen = new ReplayGuard(replayPath, log);

  const route = async (req: IncomingMessage, res: ServerResponse, provider: string): Promise<void> => {
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
    try {
      // A body that stalls is answered, not waited for forever.
      for await (const c of new RequestBody(req, idleTimeoutMs)) {
        size += (c as Buffer).length;
        if (size > MAX_BODY) return reply(413, { error: 'body too large' });
        chunks.push(c as Buffer);
      }
    } catch (e) {
      if ((e as { code?: string }).code === 'RequestTimeout') return reply(408, { error: 'request body timed out' });
      res.destroy();
      return;
    }
    const body = Buffer.concat(chunks);
    const header = (n: string): string | undefined => {
      const v = req.headers[n];
      return Array.isArray(v) ? v[0] : v;
    };
    const id = header('webhook-id');
    // Refused at the door: an id we could not persist would make the replay memory unreadable.
    if (id !== undefined && id.length > MAX_WEBHOOK_ID_LENGTH) {
      log?.(`webhook ${provider} refused: webhook-id longer than ${MAX_WEBHOOK_ID_LENGTH} characters`);
      return reply(400, { error: `webhook-id longer than ${MAX_WEBHOOK_ID_LENGTH} characters` });
    }
    const now = nowSeconds();
    const verdict = verifyWebhookSignature({
      id, timestamp: header('webhook-timestamp'), signatureHeader: header('webhook-signature'), body, secret, nowSeconds: now, toleranceSeconds: tolerance,
    });
    if (!verdict.ok) {
      log?.(`webhook ${provider} refused: ${verdict.reason}`);
      return reply(401, { error: verdict.reason });
    }
    await seen.load();
    seen.prune(now);
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
    // Recorded (and on disk) before the handler runs, so a replay racing it or a restart is refused.
    await seen.add(seenKey, Number(header('webhook-timestamp')) + tolerance + 1);
    try {
      await routes.handler(provider, payload);
    } catch (e) {
      // Let the sender's retry through: it is the same delivery, not a replay.
      await seen.delete(seenKey);
      log?.(`webhook ${provider} handler failed: ${(e as Error).message}`);
      return reply(500, { error: 'handler failed' });
    }
    reply(200, { ok: true });
  };
  return Object.assign(route, { flush: () => seen.flush() });
}
