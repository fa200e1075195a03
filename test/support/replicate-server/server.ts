import { createHmac, randomBytes } from 'node:crypto';
import http, { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readMultipart } from './multipart';
import { trainableSchema, trainerSchema } from './schemas';
import { runCogTrainer, TrainerFailure, type RemoteDatasetReader, type TrainerView } from './cog-trainer';

/**
 * A local stand-in for Replicate's HTTP API (https://replicate.com/docs/reference/http), faithful for
 * everything the extension uses: bearer auth, problem-JSON errors, paginated lists (newest first,
 * `next` URLs), files (streamed multipart upload, list/get/delete), models/versions with Cog
 * openapi_schema, predictions and trainings that progress over time with growing logs, cancel,
 * the default webhook secret and Svix-style signed webhooks. Faults are switchable per test.
 */
type Status = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted';

export interface RunScript {
  /** Time in `starting` before `processing`. */
  startDelayMs: number;
  /** One log chunk is appended per interval while processing (chunks need not end in "\n"). */
  chunkMs: number;
  chunks: string[];
  outcome: 'succeeded' | 'failed';
  error?: string;
  /** Billed seconds reported as metrics.predict_time. */
  predictTime: number;
  output?: unknown;
}

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

export interface FakeFile {
  id: string; size: number; content_type: string; checksums: { sha256: string; md5?: string };
  metadata: unknown; created_at: string; expires_at: string; urls: { get: string };
}

export interface FakeRun {
  id: string; kind: 'prediction' | 'training';
  model: string; version: string; input: Record<string, unknown>;
  status: Status; logs: string; output: unknown; error: string | null;
  created_at: string; started_at: string | null; completed_at: string | null;
  metrics: { predict_time?: number; total_time?: number };
  destination?: string;
  webhook?: string; webhook_events_filter?: string[];
  script: RunScript; createdMs: number; chunksSent: number;
  /** SimpleTuner trainer models: what the trainer found (see cog-trainer.ts); not ready = still staging. */
  trainer?: TrainerView; trainerError?: string; ready: boolean;
}

interface FakeModel { owner: string; name: string; visibility: string; hardware: string; cogTrainer?: boolean; versions: { id: string; created_at: string; cog_version: string; openapi_schema: unknown }[] }

export interface WebhookDelivery { url: string; status?: number; body: string; headers: Record<string, string> }

export const DEFAULT_SCRIPT: RunScript = {
  startDelayMs: 60,
  chunkMs: 25,
  chunks: [
    'Preparing dataset from archive\n',
    'Loading model weights\n',
    'Step 1/4 loss=0.900 lr=1e-4\n',
    'Step 2/4 lo', 'ss=0.700 lr=1e-4\n',
    'Step 3/4 loss=0.500 lr=1e-4 ✓ naïve ünïcödé\n',
    'Step 4/4 loss=0.300 lr=1e-4\n',
    'Training complete\n',
  ],
  outcome: 'succeeded',
  predictTime: 3600,
};

export class FakeReplicate {
  token = 'r8_testtoken0123456789abcdef';
  readonly webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;
  script: RunScript = { ...DEFAULT_SCRIPT };
  pageSize = 100;
  readonly files = new Map<string, FakeFile>();
  readonly deletedFiles: string[] = [];
  readonly runs = new Map<string, FakeRun>();
  readonly models = new Map<string, FakeModel>();
  readonly faults: Fault[] = [];
  /** Every request seen: "METHOD /path". */
  readonly requests: string[] = [];
  readonly webhooks: WebhookDelivery[] = [];
  /** Uploaded bytes (up to 64 MiB per file), so the trainer can unpack what it was given. */
  readonly fileData = new Map<string, Buffer>();
  /**
   * Cog validates inputs against the schema and passes only declared ones to predict(); whether the
   * prediction's `input` still shows an undeclared key is not something to rely on. Tests run both.
   */
  echoUnknownInputs = false;
  maxFileBytes = 100 * 1024 * 1024;
  /** List endpoints that omit `input` (only GET /predictions/{id} has it): the look-up must read runs in full. */
  listOmitsInput = false;
  /** How the SimpleTuner trainer reads non-local datasets (aws entries); unset = it cannot. */
  readRemote: RemoteDatasetReader | undefined;
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private ticker: NodeJS.Timeout | undefined;
  private seq = 0;
  base = '';

  constructor() {
    for (const p of ['l40s', 'l40s-x2', 'l40s-x4', 'l40s-x8', 'h100', 'h100-x2', 'h100-x4', 'h100-x8']) {
      this.addModel('simpletuner', `advanced-trainer-${p}`, [trainerSchema()]).cogTrainer = true;
    }
    this.addModel('ostris', 'flux-dev-lora-trainer', [trainableSchema()]);
  }

  addModel(owner: string, name: string, schemas: unknown[], hardware = 'gpu-h100'): FakeModel {
    const m: FakeModel = {
      owner, name, visibility: 'public', hardware,
      versions: schemas.map((s, i) => ({ id: this.newVersionId(), created_at: new Date(Date.UTC(2025, 0, 1 + i)).toISOString(), cog_version: '0.13.0', openapi_schema: s })),
    };
    this.models.set(`${owner}/${name}`, m);
    return m;
  }

  versionsOf(ref: string): string[] {
    return this.models.get(ref)?.versions.map((v) => v.id) ?? [];
  }

  fail(f: Omit<Fault, 'times'> & { times?: number }): void {
    this.faults.push({ times: 1, ...f });
  }

  /** Remove a run entirely (Replicate no longer knows it). */
  forget(id: string): void { this.runs.delete(id); }

  count(method: string, path: RegExp): number {
    return this.requests.filter((r) => r.startsWith(`${method} `) && path.test(r.slice(method.length + 1))).length;
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => { void this.handle(req, res); });
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    this.ticker = setInterval(() => { for (const r of this.runs.values()) this.advance(r); }, 20);
    return this.base;
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  // ------------------------------------------------------------------ progression

  private advance(r: FakeRun, now = Date.now()): void {
    if (r.status !== 'starting' && r.status !== 'processing') return;
    const s = r.script;
    if (r.status === 'starting' && r.ready && now - r.createdMs >= s.startDelayMs) {
      r.status = 'processing';
      r.started_at = new Date().toISOString();
      this.notify(r, 'start');
    }
    if (r.status !== 'processing') return;
    const due = Math.min(s.chunks.length, Math.floor((now - Date.parse(r.started_at!)) / s.chunkMs) + 1);
    if (due > r.chunksSent) {
      r.logs += s.chunks.slice(r.chunksSent, due).join('');
      r.chunksSent = due;
      this.notify(r, 'logs');
    }
    if (r.chunksSent >= s.chunks.length && now - Date.parse(r.started_at!) >= s.chunks.length * s.chunkMs) {
      r.status = s.outcome;
      r.error = s.outcome === 'failed' ? (s.error ?? 'Training failed') : null;
      r.output = s.outcome === 'succeeded' ? (s.output ?? this.defaultOutput(r)) : null;
      this.complete(r, s.predictTime);
    }
  }

  private defaultOutput(r: FakeRun): unknown {
    if (r.kind === 'training') return { version: `${r.destination}:${this.newVersionId()}`, weights: `https://replicate.delivery/fake/${r.id}/trained_model.tar` };
    return typeof r.input.hub_model_id === 'string' ? `https://huggingface.co/${r.input.hub_model_id}` : 'Training complete. Output: /src/output';
  }

  private complete(r: FakeRun, predictTime: number | undefined): void {
    r.completed_at = new Date().toISOString();
    if (predictTime !== undefined) r.metrics = { predict_time: predictTime, total_time: predictTime + 5 };
    this.notify(r, 'completed');
  }

  private notify(r: FakeRun, event: 'start' | 'logs' | 'completed'): void {
    if (!r.webhook) return;
    if (r.webhook_events_filter && !r.webhook_events_filter.includes(event)) return;
    void this.sendWebhook(r.webhook, this.view(r));
  }

  /** POST a signed webhook (Svix style) like Replicate does. */
  async sendWebhook(url: string, payload: unknown): Promise<WebhookDelivery> {
    const body = JSON.stringify(payload);
    const id = `msg_${randomBytes(12).toString('hex')}`;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const key = Buffer.from(this.webhookSecret.slice('whsec_'.length), 'base64');
    const signature = `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
    const headers = { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature };
    const d: WebhookDelivery = { url, body, headers };
    this.webhooks.push(d);
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
      d.status = res.status;
      await res.arrayBuffer();
    } catch { d.status = 0; }
    return d;
  }

  // ------------------------------------------------------------------ HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/^\/v1/, '');
    this.requests.push(`${method} ${path}`);
    const fault = this.takeFault(method, path);
    try {
      if (fault && !fault.afterHandling && !fault.delayMs) {
        if (fault.drop) { req.resume(); req.socket.destroy(); return; }
        req.resume();
        return this.problem(res, fault.status ?? 500, 'Injected fault', fault.retryAfter);
      }
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        req.resume();
        return this.problem(res, 401, 'You did not pass a valid authentication token');
      }
      const out = await this.route(method, path, url, req);
      if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault?.afterHandling) {
        if (fault.drop) { req.socket.destroy(); return; }
        return this.problem(res, fault.status ?? 500, 'Internal server error', fault.retryAfter);
      }
      if (out.status === 204) { res.writeHead(204).end(); return; }
      this.json(res, out.status, out.body);
    } catch (e) {
      const err = e as { status?: number; message: string };
      if (!res.headersSent) this.problem(res, err.status ?? 500, err.message);
    }
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const f = this.faults.find((x) => (!x.method || x.method === method) && x.path.test(path) && x.times > 0);
    if (!f) return undefined;
    f.times--;
    return f;
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }

  private problem(res: ServerResponse, status: number, detail: string, retryAfter?: string): void {
    const titles: Record<number, string> = { 401: 'Unauthenticated', 404: 'Not found', 409: 'Conflict', 422: 'Input validation failed', 429: 'Too many requests', 500: 'Internal server error' };
    const text = JSON.stringify({ type: 'about:blank', title: titles[status] ?? 'Error', detail, status });
    res.writeHead(status, { 'content-type': 'application/problem+json', ...(retryAfter !== undefined ? { 'retry-after': retryAfter } : {}) }).end(text);
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text) return {};
    try { return JSON.parse(text) as Record<string, unknown>; } catch { throw Object.assign(new Error('Request body is not valid JSON'), { status: 400 }); }
  }

  private async route(method: string, path: string, url: URL, req: IncomingMessage): Promise<{ status: number; body?: unknown }> {
    const notFound = (what = 'Not found.') => { throw Object.assign(new Error(what), { status: 404 }); };
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/account') return { status: 200, body: { type: 'user', username: 'tester', name: 'Test User', github_url: null } };
    if (method === 'GET' && path === '/webhooks/default/secret') return { status: 200, body: { key: this.webhookSecret } };

    // files
    if (method === 'POST' && path === '/files') return { status: 201, body: await this.createFile(req) };
    if (method === 'GET' && path === '/files') return { status: 200, body: this.page([...this.files.values()].reverse(), url, '/files') };
    if ((m = /^\/files\/([^/]+)$/.exec(path))) {
      const f = this.files.get(m[1]!) ?? notFound();
      if (method === 'GET') return { status: 200, body: f };
      if (method === 'DELETE') { this.files.delete(m[1]!); this.deletedFiles.push(m[1]!); req.resume(); return { status: 204 }; }
    }

    // models
    if (method === 'POST' && path === '/models') {
      const b = await this.body(req);
      const ref = `${b.owner}/${b.name}`;
      if (b.owner !== 'tester') throw Object.assign(new Error('You can only create models for your own account'), { status: 403 });
      if (this.models.has(ref)) throw Object.assign(new Error('A model with that name already exists'), { status: 409 });
      const model: FakeModel = { owner: String(b.owner), name: String(b.name), visibility: String(b.visibility ?? 'private'), hardware: String(b.hardware ?? 'cpu'), versions: [] };
      this.models.set(ref, model);
      return { status: 201, body: this.modelView(model) };
    }
    if ((m = /^\/models\/([^/]+)\/([^/]+)$/.exec(path)) && method === 'GET') {
      return { status: 200, body: this.modelView(this.models.get(`${m[1]}/${m[2]}`) ?? notFound()) };
    }
    if ((m = /^\/models\/([^/]+)\/([^/]+)\/versions$/.exec(path)) && method === 'GET') {
      const model = this.models.get(`${m[1]}/${m[2]}`) ?? notFound();
      return { status: 200, body: this.page([...model.versions].reverse(), url, path) };
    }
    if ((m = /^\/models\/([^/]+)\/([^/]+)\/versions\/([^/]+)$/.exec(path)) && method === 'GET') {
      const model = this.models.get(`${m[1]}/${m[2]}`) ?? notFound();
      return { status: 200, body: model.versions.find((v) => v.id === m![3]) ?? notFound() };
    }
    if ((m = /^\/models\/([^/]+)\/([^/]+)\/versions\/([^/]+)\/trainings$/.exec(path)) && method === 'POST') {
      const b = await this.body(req);
      const ref = `${m[1]}/${m[2]}`;
      const model = this.models.get(ref) ?? notFound(`Model ${ref} not found`);
      const version = model.versions.find((v) => v.id === m![3]) ?? notFound(`Version ${m[3]} not found`);
      const dest = String(b.destination ?? '');
      if (!this.models.has(dest)) notFound('The specified training destination does not exist');
      const input = (b.input ?? {}) as Record<string, unknown>;
      this.validate(version.openapi_schema, 'TrainingInput', input);
      const run = this.createRun('training', ref, version.id, this.declaredOnly(version.openapi_schema, 'TrainingInput', input), b);
      run.destination = dest;
      return { status: 201, body: this.view(run) };
    }

    // predictions & trainings
    if (method === 'POST' && path === '/predictions') {
      const b = await this.body(req);
      const vid = String(b.version ?? '');
      const entry = [...this.models.entries()].find(([, mm]) => mm.versions.some((v) => v.id === vid));
      if (!entry) throw Object.assign(new Error('Invalid version or not permitted'), { status: 422 });
      const version = entry[1].versions.find((v) => v.id === vid)!;
      const input = (b.input ?? {}) as Record<string, unknown>;
      this.validate(version.openapi_schema, 'Input', input);
      const run = this.createRun('prediction', entry[0], vid, this.declaredOnly(version.openapi_schema, 'Input', input), b);
      if (entry[1].cogTrainer) this.stageTrainer(run, input);
      return { status: 201, body: this.view(run) };
    }
    for (const kind of ['prediction', 'training'] as const) {
      const col = `/${kind}s`;
      if (method === 'GET' && path === col) {
        const runs = [...this.runs.values()].filter((r) => r.kind === kind).reverse();
        for (const r of runs) this.advance(r);
        return { status: 200, body: this.page(runs.map((r) => this.listView(r)), url, col) };
      }
      if ((m = new RegExp(`^${col}/([^/]+)(/cancel)?$`).exec(path))) {
        const run = this.runs.get(m[1]!);
        if (!run || run.kind !== kind) notFound();
        this.advance(run!);
        if (m[2] && method === 'POST') {
          req.resume();
          if (run!.status === 'starting' || run!.status === 'processing') {
            run!.status = 'canceled';
            this.complete(run!, run!.started_at ? Math.max(1, (Date.now() - Date.parse(run!.started_at)) / 1000) : undefined);
          }
          return { status: 200, body: this.view(run!) };
        }
        if (!m[2] && method === 'GET') return { status: 200, body: this.view(run!) };
      }
    }
    return notFound();
  }

  private async createFile(req: IncomingMessage): Promise<FakeFile> {
    const parts = await readMultipart(req, 64 * 1024 * 1024);
    const content = parts.find((p) => p.name === 'content');
    if (!content) throw Object.assign(new Error('Missing content part'), { status: 422 });
    // Replicate's Files API limit (100 MiB, as SimpleTuner documents it: documentation/experimental/cloud/REPLICATE.md).
    if (content.size > this.maxFileBytes) throw Object.assign(new Error('Request Entity Too Large'), { status: 413 });
    const metaPart = parts.find((p) => p.name === 'metadata');
    let metadata: unknown = {};
    try { metadata = metaPart?.text ? JSON.parse(metaPart.text) : {}; } catch { throw Object.assign(new Error('metadata is not JSON'), { status: 422 }); }
    const id = this.newId();
    const f: FakeFile = {
      id, size: content.size, content_type: content.contentType ?? 'application/octet-stream',
      checksums: { sha256: content.sha256 }, metadata,
      created_at: new Date().toISOString(), expires_at: new Date(Date.now() + 24 * 3600_000).toISOString(),
      urls: { get: `${this.base}/files/${id}` },
    };
    this.files.set(id, f);
    if (content.data) this.fileData.set(id, content.data);
    return f;
  }

  private createRun(kind: 'prediction' | 'training', model: string, version: string, input: Record<string, unknown>, b: Record<string, unknown>): FakeRun {
    const run: FakeRun = {
      id: this.newId(), kind, model, version, input: redactSecrets(input), status: 'starting', logs: '', output: null, error: null,
      created_at: new Date().toISOString(), started_at: null, completed_at: null, metrics: {},
      webhook: typeof b.webhook === 'string' ? b.webhook : undefined,
      webhook_events_filter: Array.isArray(b.webhook_events_filter) ? (b.webhook_events_filter as string[]) : undefined,
      script: this.script, createdMs: Date.now(), chunksSent: 0, ready: true,
    };
    this.runs.set(run.id, run);
    return run;
  }

  /** Run SimpleTuner's Cog runner on the inputs (cog-trainer.ts): the run starts once staged, and fails like it would. */
  private stageTrainer(run: FakeRun, input: Record<string, unknown>): void {
    run.ready = false;
    const base = this.script;
    void runCogTrainer(input, `cog-${run.id.slice(0, 10)}`, { fetchFile: (u) => this.fetchFile(u), readRemote: this.readRemote }).then(
      (view) => {
        run.trainer = view;
        const found = view.datasets.map((d) => `[COG] dataset ${d.id} (${d.type}): ${d.images.length} images\n`);
        run.script = { ...base, chunks: [view.route === 'archive' ? '[COG] Extracted the images archive; auto-generated dataloader config\n' : '[COG] Using the provided dataloader config\n', ...found, ...base.chunks] };
      },
      (e: unknown) => {
        const msg = e instanceof TrainerFailure ? e.message : `internal: ${(e as Error).message}`;
        run.trainerError = msg;
        run.script = { ...base, chunks: ['[COG] Preparing training\n', `${msg}\n`], outcome: 'failed', error: msg };
      },
    ).finally(() => { run.ready = true; });
  }

  private async fetchFile(url: string): Promise<Buffer | undefined> {
    const data = /^data:[^;,]*;base64,(.*)$/.exec(url);
    if (data) return Buffer.from(data[1]!, 'base64');
    const prefix = `${this.base}/files/`;
    return url.startsWith(prefix) ? this.fileData.get(url.slice(prefix.length)) : undefined;
  }

  /** What Cog keeps of an input: the keys the schema declares (unless `echoUnknownInputs`). */
  private declaredOnly(openapi: unknown, component: string, input: Record<string, unknown>): Record<string, unknown> {
    if (this.echoUnknownInputs) return input;
    const props = (openapi as { components?: { schemas?: Record<string, { properties?: Record<string, unknown> }> } })?.components?.schemas?.[component]?.properties;
    if (!props) return input;
    return Object.fromEntries(Object.entries(input).filter(([k]) => k in props));
  }

  private view(r: FakeRun): Record<string, unknown> {
    const v: Record<string, unknown> = {
      id: r.id, model: r.model, version: r.version, input: r.input, logs: r.logs, output: r.output, data_removed: false,
      error: r.error, status: r.status, created_at: r.created_at, started_at: r.started_at, completed_at: r.completed_at,
      source: 'api', metrics: r.metrics,
      urls: { get: `${this.base}/${r.kind}s/${r.id}`, cancel: `${this.base}/${r.kind}s/${r.id}/cancel`, web: `https://replicate.com/p/${r.id}` },
    };
    if (r.kind === 'training') v.destination = r.destination;
    return v;
  }

  /** Lists omit logs, like Replicate's list endpoints. */
  private listView(r: FakeRun): Record<string, unknown> {
    const { logs: _logs, input, ...rest } = this.view(r);
    return this.listOmitsInput ? rest : { ...rest, input };
  }

  private modelView(m: FakeModel) {
    const latest = m.versions[m.versions.length - 1];
    return { url: `https://replicate.com/${m.owner}/${m.name}`, owner: m.owner, name: m.name, description: null, visibility: m.visibility, run_count: 0, latest_version: latest ?? null, default_example: null };
  }

  private page<T>(items: T[], url: URL, path: string) {
    const cursor = Number(url.searchParams.get('cursor') ?? '0') || 0;
    const slice = items.slice(cursor, cursor + this.pageSize);
    const nextCursor = cursor + this.pageSize;
    return {
      previous: cursor > 0 ? `${this.base}${path}?cursor=${Math.max(0, cursor - this.pageSize)}` : null,
      next: nextCursor < items.length ? `${this.base}${path}?cursor=${nextCursor}` : null,
      results: slice,
    };
  }

  /** Replicate validates inputs against the version's schema and answers 422. */
  private validate(openapi: unknown, component: string, input: Record<string, unknown>): void {
    const s = (openapi as { components?: { schemas?: Record<string, { required?: string[]; properties?: Record<string, { type?: string }> }> } })?.components?.schemas?.[component];
    if (!s) return;
    const problems: string[] = [];
    for (const k of s.required ?? []) if (input[k] === undefined || input[k] === null) problems.push(`${k} is required`);
    for (const [k, v] of Object.entries(input)) {
      const t = s.properties?.[k]?.type;
      if (!t || v === null) continue;
      const ok = t === 'integer' ? Number.isInteger(v) : t === 'number' ? typeof v === 'number' : t === 'array' ? Array.isArray(v) : typeof v === t;
      if (!ok) problems.push(`${k}: Invalid type. Expected: ${t}`);
    }
    if (problems.length) throw Object.assign(new Error(`Prediction input failed validation: ${problems.join(', ')}`), { status: 422 });
  }

  private newId(): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (const b of randomBytes(26)) s += alphabet[b % alphabet.length];
    return s;
  }

  private newVersionId(): string {
    return `${(++this.seq).toString(16).padStart(4, '0')}${randomBytes(30).toString('hex')}`;
  }
}

function redactSecrets(input: Record<string, unknown>): Record<string, unknown> {
  const out = { ...input };
  for (const k of ['hf_token', 's3_access_key', 's3_secret_key']) if (k in out && out[k] != null) out[k] = '**********';
  return out;
}
