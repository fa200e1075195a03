import { randomUUID } from 'node:crypto';
import os from 'node:os';
import * as z from 'zod';
import type { JobHistory } from '../jobs/history';
import type { Job } from '../jobs/schema';
import { JobEventKind, NotificationLevel, eventTitle, passesLevel, recordedEvents } from './events';
import { buildPayload, formatRequest, type WebhookFormat } from './payload';
import { failureReason } from './reason';

export interface WebhookTarget { url: string; format: WebhookFormat }

/** What a window shows: the decision (this window, once) is already taken when it gets this. */
export interface ShownEvent { job: Job; kind: JobEventKind; at: string; title: string; reason?: string }

export interface NotifierOptions {
  /** A VS Code window: shows events it wins the claim for. The CLI has none. */
  show?: { level: () => NotificationLevel; onEvent: (e: ShownEvent) => void };
  /** Where to send events outside the editor (SecretStorage / env); undefined = nowhere. */
  webhook?: () => Promise<WebhookTarget | undefined> | WebhookTarget | undefined;
  webhookLevel?: () => NotificationLevel;
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number; timeoutMs?: number; leaseMs?: number };
  /** Events older than this are neither shown nor sent (a window opened days later stays quiet). */
  maxAgeMs?: number;
  log?: (line: string) => void;
}

/**
 * `metadata.webhook[<event>]`: the delivery record. `sending` is a claim with a lease (one attempt
 * at a time across processes); `pending` waits for `nextAt`; `delivered`/`failed` are final. A
 * process that dies mid-attempt leaves a lease that lapses, so another process (or this one after
 * a restart) continues; that one attempt may then have reached the receiver twice (at least once).
 */
const DeliverySchema = z.object({
  state: z.enum(['pending', 'sending', 'delivered', 'failed']),
  attempts: z.number().int().nonnegative(),
  nextAt: z.string().optional(),
  by: z.string().optional(),
  leaseUntil: z.string().optional(),
  error: z.string().optional(),
  deliveredAt: z.string().optional(),
});
type Delivery = z.infer<typeof DeliverySchema>;

function deliveryOf(job: Job, kind: JobEventKind): Delivery {
  const r = DeliverySchema.safeParse((job.metadata.webhook as Record<string, unknown> | undefined)?.[kind]);
  return r.success ? r.data : { state: 'pending', attempts: 0 };
}
const withDelivery = (job: Job, kind: JobEventKind, d: Delivery): Job => ({
  ...job, metadata: { ...job.metadata, webhook: { ...(job.metadata.webhook as object | undefined), [kind]: d } },
});

/**
 * Decides, across every window and CLI process sharing the history, which one shows an event and
 * which one sends it, by claims written under the history's lock (the discipline the monitor uses
 * for finalisation). Nothing here blocks the monitor: `scan()` starts deliveries and returns.
 */
export class JobNotifier {
  private readonly owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly inFlight = new Map<string, Promise<void>>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAt = Infinity;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private disposed = false;
  /** Aborts requests under way when the window or CLI process stops (their claim then lapses). */
  private readonly stop = new AbortController();

  constructor(private readonly history: JobHistory, private readonly opts: NotifierOptions) {}

  /** Look for events to show or send. Concurrent calls fold into one pass (plus one after it). */
  scan(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (this.scanning) { this.rescan = true; return this.scanning; }
    this.scanning = (async () => {
      try {
        do { this.rescan = false; await this.pass(); } while (this.rescan && !this.disposed);
      } catch (e) {
        this.opts.log?.(`Notifications: ${(e as Error).message}`);
      } finally { this.scanning = undefined; }
    })();
    return this.scanning;
  }

  /**
   * For a process about to exit (the CLI): wait, at most `timeoutMs`, until every due event it may
   * send is delivered or given up. What is left stays pending in the history for the next process.
   */
  async flush(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.disposed && Date.now() < deadline) {
      await this.scan();
      await Promise.all(this.inFlight.values());
      const waiting = await this.pendingDeliveries();
      if (!waiting.length) return;
      const next = Math.min(...waiting.map((d) => (d.nextAt ? Date.parse(d.nextAt) : Date.now() + 100)));
      await new Promise((r) => setTimeout(r, Math.max(20, Math.min(next - Date.now(), deadline - Date.now()))));
    }
  }

  private async pendingDeliveries(): Promise<Delivery[]> {
    const target = await this.opts.webhook?.();
    if (!target) return [];
    const out: Delivery[] = [];
    for (const job of await this.history.list()) {
      for (const e of this.due(job)) {
        if (!passesLevel(e.kind, this.opts.webhookLevel?.() ?? 'all')) continue;
        const d = deliveryOf(job, e.kind);
        if (d.state === 'pending' || d.state === 'sending') out.push(d);
      }
    }
    return out;
  }

  private due(job: Job) {
    const maxAge = this.opts.maxAgeMs ?? 24 * 3600_000;
    return recordedEvents(job).filter((e) => Date.now() - Date.parse(e.at) < maxAge);
  }

  private async pass(): Promise<void> {
    const target = await this.opts.webhook?.();
    for (const job of await this.history.list()) {
      for (const e of this.due(job)) {
        if (this.opts.show && passesLevel(e.kind, this.opts.show.level())) await this.showOnce(job.id, e.kind, e.at);
        if (target && passesLevel(e.kind, this.opts.webhookLevel?.() ?? 'all')) this.startDelivery(job, e.kind, e.at, target);
      }
    }
  }

  /** `metadata.notified[<event>]`: set by the one window that shows it; a reload sees it set. */
  private async showOnce(id: string, kind: JobEventKind, at: string): Promise<void> {
    const notified = (await this.history.get(id))?.metadata.notified as Record<string, unknown> | undefined;
    if (notified?.[kind]) return; // cheap check without the lock
    let won = false;
    const job = await this.history.update(id, (j) => {
      const n = (j.metadata.notified ?? {}) as Record<string, unknown>;
      if (n[kind]) return undefined;
      won = true;
      return { ...j, metadata: { ...j.metadata, notified: { ...n, [kind]: new Date().toISOString() } } };
    });
    if (!won || !job || this.disposed) return;
    const reason = kind === 'failed' || kind === 'delivery-failed' ? await this.reasonFor(job, kind) : undefined;
    this.opts.show!.onEvent({ job, kind, at, title: eventTitle(job, kind), reason });
  }

  private async reasonFor(job: Job, kind: JobEventKind): Promise<string | undefined> {
    if (kind === 'delivery-failed') return typeof job.metadata.deliveryError === 'string' ? job.metadata.deliveryError : undefined;
    return failureReason(job);
  }

  private startDelivery(job: Job, kind: JobEventKind, at: string, target: WebhookTarget): void {
    const key = `${job.id}:${kind}`;
    if (this.inFlight.has(key)) return;
    const d = deliveryOf(job, kind);
    if (d.state === 'delivered' || d.state === 'failed') return;
    const p = this.attempt(job.id, kind, at, target)
      .catch((e) => this.opts.log?.(`Notifications: ${(e as Error).message}`))
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
  }

  /** One attempt, if this process wins the claim and the record says one is due. */
  private async attempt(id: string, kind: JobEventKind, at: string, target: WebhookTarget): Promise<void> {
    const r = this.opts.retry ?? {};
    const maxAttempts = r.attempts ?? 5;
    const leaseMs = r.leaseMs ?? 60_000;
    const timeoutMs = r.timeoutMs ?? 10_000;
    const now = Date.now();
    let claimed: Delivery | undefined;
    const job = await this.history.update(id, (j) => {
      const d = deliveryOf(j, kind);
      if (d.state === 'delivered' || d.state === 'failed') return undefined;
      if (d.state === 'sending' && d.by !== this.owner && d.leaseUntil && Date.parse(d.leaseUntil) > now) return undefined;
      if (d.nextAt && Date.parse(d.nextAt) > now) { this.scheduleRescan(Date.parse(d.nextAt)); return undefined; }
      claimed = { state: 'sending', attempts: d.attempts, by: this.owner, leaseUntil: new Date(now + leaseMs).toISOString(), error: d.error };
      return withDelivery(j, kind, claimed);
    });
    if (!claimed || !job || this.disposed) return;
    const reason = kind === 'failed' || kind === 'delivery-failed' ? await this.reasonFor(job, kind) : undefined;
    const req = formatRequest(target.format, buildPayload(job, kind, at, reason));
    let outcome: { ok: true } | { ok: false; permanent: boolean; error: string };
    try {
      const res = await fetch(target.url, { method: 'POST', headers: req.headers, body: req.body, signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.stop.signal]), redirect: 'error' });
      await res.arrayBuffer().catch(() => undefined);
      // 4xx (but 408/429) will not get better by asking again: a wrong URL or a body the service refuses.
      outcome = res.ok ? { ok: true } : { ok: false, permanent: res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429, error: `HTTP ${res.status}` };
    } catch (e) {
      // Never the URL in the record or the log: Slack/Discord/ntfy URLs are the credential.
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      outcome = { ok: false, permanent: false, error: `network error (${cause})` };
    }
    if (this.stop.signal.aborted) {
      // Stopped mid-attempt: hand the event back (not counted) so the next process sends it at once.
      await this.history.update(id, (j) => (deliveryOf(j, kind).by === this.owner ? withDelivery(j, kind, { state: 'pending', attempts: claimed!.attempts, error: claimed!.error }) : undefined));
      return;
    }
    const attempts = claimed.attempts + 1;
    const next: Delivery = outcome.ok
      ? { state: 'delivered', attempts, deliveredAt: new Date().toISOString() }
      : outcome.permanent || attempts >= maxAttempts
        ? { state: 'failed', attempts, error: outcome.error }
        : { state: 'pending', attempts, error: outcome.error, nextAt: new Date(Date.now() + this.backoff(attempts)).toISOString() };
    await this.history.update(id, (j) => (deliveryOf(j, kind).by === this.owner ? withDelivery(j, kind, next) : undefined));
    if (!outcome.ok) this.opts.log?.(`Notification for job ${id} (${kind}): ${outcome.error}; ${next.state === 'failed' ? 'gave up' : `retrying at ${next.nextAt}`}`);
    if (next.nextAt) this.scheduleRescan(Date.parse(next.nextAt));
  }

  private backoff(attempts: number): number {
    const r = this.opts.retry ?? {};
    return Math.min((r.baseDelayMs ?? 2000) * 2 ** (attempts - 1), r.maxDelayMs ?? 60_000);
  }

  /** One timer for the earliest retry; unref'd so it never keeps a CLI process alive on its own. */
  private scheduleRescan(at: number): void {
    if (this.disposed || at >= this.retryAt) return;
    clearTimeout(this.retryTimer);
    this.retryAt = at;
    this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.retryAt = Infinity; void this.scan(); }, Math.max(0, at - Date.now()));
    this.retryTimer.unref?.();
  }

  dispose(): void {
    this.disposed = true;
    this.stop.abort();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
