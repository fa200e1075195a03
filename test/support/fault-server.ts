import http, { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A fault a test switches on for the next `times` matching requests of a stand-in API server. */
export interface Fault {
  method?: string;
  path: RegExp;
  /** Answer with this status instead of handling the request… */
  status?: number;
  retryAfter?: string;
  /** …or drop the connection without an answer. */
  drop?: boolean;
  /** Handle the request first (e.g. create the job), then answer `status` / drop. */
  afterHandling?: boolean;
  /** Handle the request, then hold the answer this long (a slow server; clients time out). */
  delayMs?: number;
  times: number;
}

/**
 * What the managed-API stand-ins (Together, Fireworks) share: a loopback HTTP server, the request log
 * tests count, and switchable faults. Each subclass answers requests as its provider's reference says.
 */
export abstract class FaultInjectingServer {
  readonly faults: Fault[] = [];
  readonly requests: string[] = [];
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  base = '';

  constructor(private readonly basePath = '') {}

  fail(f: Omit<Fault, 'times'> & { times?: number }): void { this.faults.push({ times: 1, ...f }); }

  count(method: string, path: RegExp): number {
    return this.requests.filter((r) => r.startsWith(`${method} `) && path.test(r.slice(method.length + 1))).length;
  }

  /** `port`: a loopback port chosen beforehand (the e2e runner hands it to VS Code first); default any free one. */
  async start(port = 0): Promise<string> {
    this.server = http.createServer((req, res) => { void this.handle(req, res); });
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => this.server!.once('error', reject).listen(port, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${this.basePath}`;
    return this.base;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Log the request and take the first armed fault that matches it. */
  protected takeFault(method: string, path: string): Fault | undefined {
    this.requests.push(`${method} ${path}`);
    const fault = this.faults.find((x) => (!x.method || x.method === method) && x.path.test(path) && x.times > 0);
    if (fault) fault.times--;
    return fault;
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}
