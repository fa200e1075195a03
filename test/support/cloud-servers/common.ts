/**
 * Shared plumbing of the cloud stand-ins (lambda.ts, digitalocean.ts, runpod.ts): a real HTTP
 * server on 127.0.0.1, bearer-token auth, a request log, and one-shot faults a test queues:
 * an HTTP error with the provider's own error body, a dropped connection before or AFTER the
 * request was handled (the "crash between launch and answer" case), or a delay.
 *
 * The provider-specific modules own the resources, states and error shapes, each citing the
 * published API reference it follows.
 */
import http from 'node:http';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { SshdFixture } from '../sshd';

export interface Fault {
  method?: string;
  /** Matched against the path without the query string. */
  path: RegExp;
  /** Reply with this status and body (the provider's error shape) instead of handling. */
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Destroy the socket without answering. `after` = handle the request first (it took effect). */
  drop?: 'before' | 'after';
  /** Wait this long before handling. */
  delayMs?: number;
  /** How many matching requests this fault applies to (default 1). */
  times?: number;
}

export interface LoggedRequest { method: string; path: string; query: URLSearchParams; body: unknown; status: number }

export type Reply = { status: number; body?: unknown; headers?: Record<string, string> };
export type Handler = (method: string, path: string, query: URLSearchParams, body: unknown) => Promise<Reply> | Reply;

/** A documented rate limit: at most `max` matching requests per `windowMs`, else `reply(retryAfterS)`. */
export interface RateLimit { method?: string; path: RegExp; max: number; windowMs: number; reply: (retryAfterS: number) => Reply }

export interface StandInOptions {
  apiKey: string;
  rateLimits?: RateLimit[];
  /** The provider's 401 body. */
  unauthorized: Reply;
  handler: Handler;
}

export class StandInServer {
  readonly faults: Fault[] = [];
  readonly requests: LoggedRequest[] = [];
  private server?: http.Server;
  url = '';

  constructor(private readonly o: StandInOptions) {}

  /** Listens on 127.0.0.1:`port` (default: a free one). */
  async start(port = 0): Promise<this> {
    this.server = http.createServer((req, res) => { void this.handle(req, res); });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
    this.server = undefined;
  }

  /** Requests matching method and path regexp (for assertions). */
  count(method: string, p: RegExp): number {
    return this.requests.filter((r) => r.method === method && p.test(r.path)).length;
  }

  private takeFault(method: string, p: string): Fault | undefined {
    const i = this.faults.findIndex((f) => (!f.method || f.method === method) && f.path.test(p));
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.faults.splice(i, 1);
    return f;
  }

  private readonly hits = new Map<RateLimit, number[]>();
  private rateLimited(method: string, p: string): Reply | undefined {
    for (const rl of this.o.rateLimits ?? []) {
      if ((rl.method && rl.method !== method) || !rl.path.test(p)) continue;
      const now = Date.now();
      const recent = (this.hits.get(rl) ?? []).filter((t) => now - t < rl.windowMs);
      if (recent.length >= rl.max) {
        this.hits.set(rl, recent);
        const retryAfterS = Math.max(1, Math.ceil((recent[0]! + rl.windowMs - now) / 1000));
        const r = rl.reply(retryAfterS);
        return { ...r, headers: { 'retry-after': String(retryAfterS), ...r.headers } };
      }
      this.hits.set(rl, [...recent, now]);
    }
    return undefined;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try { body = text ? JSON.parse(text) : undefined; } catch { body = text; }
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const log = (status: number) => this.requests.push({ method, path: url.pathname, query: url.searchParams, body, status });

    if (req.headers.authorization !== `Bearer ${this.o.apiKey}`) {
      log(this.o.unauthorized.status);
      return send(res, this.o.unauthorized);
    }
    const limited = this.rateLimited(method, url.pathname);
    if (limited) { log(limited.status); return send(res, limited); }
    const fault = this.takeFault(method, url.pathname);
    if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault?.drop === 'before') { log(0); req.socket.destroy(); return; }
    if (fault?.status) { log(fault.status); return send(res, { status: fault.status, body: fault.body, headers: fault.headers }); }
    let reply: Reply;
    try {
      reply = await this.o.handler(method, url.pathname, url.searchParams, body);
    } catch (e) {
      reply = { status: 500, body: { message: (e as Error).message } };
    }
    log(fault?.drop === 'after' ? 0 : reply.status);
    if (fault?.drop === 'after') { req.socket.destroy(); return; }
    send(res, reply);
  }
}

function send(res: http.ServerResponse, r: Reply): void {
  const payload = r.body === undefined ? '' : JSON.stringify(r.body);
  res.writeHead(r.status, { ...(payload ? { 'content-type': 'application/json' } : {}), ...r.headers });
  res.end(payload);
}

/** What providers do with the account's keys at boot: put them in the machine's authorized_keys. */
export async function authorize(sshd: SshdFixture, publicKeys: string[]): Promise<void> {
  if (publicKeys.length) await fs.appendFile(path.join(sshd.dir, 'authorized_keys'), publicKeys.map((k) => k.trim() + '\n').join(''));
}

/** Deterministic boot: an instance becomes ready after `bootPolls` reads of it (slow boot = more). */
export class BootCounter {
  private readonly reads = new Map<string, number>();
  constructor(private readonly bootPolls: () => number) {}
  /** Count one read; true once the instance has been read enough times to be up. */
  read(id: string): boolean {
    const n = (this.reads.get(id) ?? 0) + 1;
    this.reads.set(id, n);
    return n > this.bootPolls();
  }
}
