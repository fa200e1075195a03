import {
  RequestSchemas, ViewDataSchemas, parseWebviewMessage, type HostMessage, type RequestMethod, type RequestParams, type RequestResult, type ViewData, type ViewKind,
} from '../../../webview/shared/protocol';

/** The host's view of a webview: `vscode.Webview` fits (postMessage + onDidReceiveMessage). */
export interface HostEndpoint {
  post(message: HostMessage): unknown;
  listen(handler: (data: unknown) => void): { dispose(): void };
}

type Handler<M extends RequestMethod> = (params: RequestParams<M>) => Promise<RequestResult<M>> | RequestResult<M>;

export interface HostChannelOptions<V extends ViewKind> {
  /** The view's current data; sent as `init` every time the page (re)loads and says `ready`. */
  data: () => ViewData[V] | Promise<ViewData[V]>;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/**
 * The host's side of the webview protocol (no vscode import, so it is unit-tested directly):
 * - nothing is posted until the page said `ready`; on every `ready` (first load, or a reload after
 *   the panel was hidden) the page gets `init` with the current data;
 * - `update()` before ready is not lost: the next `init` carries the latest data;
 * - every incoming message is validated; bad ones are dropped with the reason logged;
 * - each request gets exactly one reply with its id: the handler's result, or its error message.
 */
export class HostChannel<V extends ViewKind> {
  private readonly handlers = new Map<RequestMethod, Handler<RequestMethod>>();
  private readonly subscription: { dispose(): void };
  private isReady = false;
  private disposed = false;
  private readyWaiters: (() => void)[] = [];

  constructor(readonly view: V, private readonly endpoint: HostEndpoint, private readonly opts: HostChannelOptions<V>) {
    this.subscription = endpoint.listen((raw) => void this.receive(raw));
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** Resolves once the page has said `ready` (immediately if it already has). */
  whenReady(): Promise<void> {
    return this.isReady ? Promise.resolve() : new Promise((r) => this.readyWaiters.push(r));
  }

  handle<M extends RequestMethod>(method: M, handler: Handler<M>): this {
    this.handlers.set(method, handler as unknown as Handler<RequestMethod>);
    return this;
  }

  /** New data for a live view. Validated here too, so a host bug shows up in the host's log, not as a blank page. */
  update(data: ViewData[V]): void {
    if (this.disposed || !this.isReady) return; // the next `ready` gets fresh data through opts.data()
    const r = ViewDataSchemas[this.view].safeParse(data);
    if (!r.success) {
      this.opts.log('error', `Not sending invalid ${this.view} data: ${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message}`);
      return;
    }
    this.post({ type: 'update', view: this.view, data: r.data });
  }

  dispose(): void {
    this.disposed = true;
    this.subscription.dispose();
    this.readyWaiters = [];
  }

  private post(m: HostMessage): void {
    if (!this.disposed) void Promise.resolve(this.endpoint.post(m)).catch(() => { /* panel closed meanwhile */ });
  }

  private async receive(raw: unknown): Promise<void> {
    if (this.disposed) return;
    const parsed = parseWebviewMessage(raw);
    if (!parsed.ok) {
      this.opts.log('warn', `${this.view} view: ${parsed.reason}`);
      return;
    }
    const m = parsed.value;
    switch (m.type) {
      case 'ready': {
        if (m.view !== this.view) {
          this.opts.log('warn', `${this.view} view: ready from a "${m.view}" page`);
          return;
        }
        let data: ViewData[V];
        try {
          data = await this.opts.data();
        } catch (e) {
          this.opts.log('error', `${this.view} view: could not load its data: ${(e as Error).message}`);
          return;
        }
        this.isReady = true;
        this.post({ type: 'init', view: this.view, data });
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      }
      case 'log':
        this.opts.log(m.level, `${this.view} view: ${m.message}`);
        return;
      case 'request': {
        const handler = this.handlers.get(m.method);
        if (!handler) {
          this.opts.log('warn', `${this.view} view: no handler for ${m.method} (request ${m.id})`);
          this.post({ type: 'reply', id: m.id, ok: false, error: `${m.method} is not available in this view` });
          return;
        }
        try {
          const result = RequestSchemas[m.method].result.parse(await handler(m.params as never));
          this.post({ type: 'reply', id: m.id, ok: true, result });
        } catch (e) {
          this.post({ type: 'reply', id: m.id, ok: false, error: (e as Error).message ?? String(e) });
        }
      }
    }
  }
}
