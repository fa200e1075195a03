import {
  parseHostMessage, parseResult, type HostMessage, type RequestMethod, type RequestParams, type RequestResult, type ViewData, type ViewKind, type WebviewMessage,
} from './protocol';

/** How a page talks to its host: in VS Code `acquireVsCodeApi().postMessage` + window `message` events. */
export interface Endpoint {
  post(message: WebviewMessage): void;
  listen(handler: (data: unknown) => void): () => void;
}

export interface ClientOptions {
  /** A request with no reply after this long fails (the host went away). */
  timeoutMs?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/**
 * The page's side of the protocol: installs its listener *before* posting `ready`, validates every
 * host message, matches replies to requests by id (replies may come in any order), and hands the
 * view its data on `init`/`update`.
 */
export class WebviewClient<V extends ViewKind> {
  private nextId = 1;
  private readonly pending = new Map<number, { method: RequestMethod; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  private readonly dataHandlers: ((data: ViewData[V], kind: 'init' | 'update') => void)[] = [];
  private unlisten: (() => void) | undefined;
  /** Messages that failed validation, newest last (shown by tests and the screenshot check). */
  readonly rejected: string[] = [];

  constructor(readonly view: V, private readonly endpoint: Endpoint, private readonly opts: ClientOptions = {}) {}

  onData(handler: (data: ViewData[V], kind: 'init' | 'update') => void): this {
    this.dataHandlers.push(handler);
    return this;
  }

  /** Listen, then announce readiness: the host sends nothing before this. */
  start(): this {
    this.unlisten ??= this.endpoint.listen((raw) => this.receive(raw));
    this.endpoint.post({ type: 'ready', view: this.view });
    return this;
  }

  request<M extends RequestMethod>(method: M, params: RequestParams<M>): Promise<RequestResult<M>> {
    const id = this.nextId++;
    return new Promise<RequestResult<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`No reply to ${method} within ${this.opts.timeoutMs ?? 30_000} ms`));
      }, this.opts.timeoutMs ?? 30_000);
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      this.endpoint.post({ type: 'request', id, method, params });
    });
  }

  /** Forward an error from the page to the host's log. */
  log(level: 'info' | 'warn' | 'error', message: string): void {
    this.endpoint.post({ type: 'log', level, message: message.slice(0, 4000) });
  }

  dispose(): void {
    this.unlisten?.();
    this.unlisten = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('The view was closed'));
    }
    this.pending.clear();
  }

  private receive(raw: unknown): void {
    const parsed = parseHostMessage(raw, this.view);
    if (!parsed.ok) {
      this.rejected.push(parsed.reason);
      this.opts.log?.('warn', parsed.reason);
      this.log('warn', parsed.reason);
      return;
    }
    const m: HostMessage = parsed.value;
    if (m.type === 'reply') {
      const p = this.pending.get(m.id);
      if (!p) {
        const reason = `reply to unknown request ${m.id}`;
        this.rejected.push(reason);
        this.opts.log?.('warn', reason);
        return;
      }
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (!m.ok) return p.reject(new Error(m.error));
      const result = parseResult(p.method, m.result);
      if (result.ok) p.resolve(result.value);
      else p.reject(new Error(result.reason));
      return;
    }
    for (const h of this.dataHandlers) h(m.data as ViewData[V], m.type);
  }
}

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

let api: VsCodeApi | undefined;
/** `acquireVsCodeApi` may be called once per page. */
export function vscodeApi(): VsCodeApi {
  return (api ??= acquireVsCodeApi());
}

export function vscodeEndpoint(): Endpoint {
  return {
    post: (m) => vscodeApi().postMessage(m),
    listen: (handler) => {
      const l = (e: MessageEvent) => handler(e.data);
      window.addEventListener('message', l);
      return () => window.removeEventListener('message', l);
    },
  };
}
