import type { DatasetFormat, DatasetDiagnostic } from './schemas';
import { estimateCounter, tokenCounterFor } from './tokenizers';
import { countDatasetTokens } from './tokens';
import { validateDataset } from './validate';
import { modelFamily, modelInfo } from './models';

/** What is analysed: a file on disk (streamed) or an open document's unsaved text. */
export interface AnalysisSource {
  file: string;
  /** Present for a document with unsaved edits. */
  text?: string;
  /** Document version (or mtime) the result belongs to; a newer request cancels an older one. */
  version: number | string;
  /** Base model whose tokenizer counts, and whose context length bounds, the examples. */
  model?: string;
}

export interface DatasetAnalysis {
  file: string;
  version: number | string;
  format?: DatasetFormat;
  examples: number;
  lines: number;
  bytes: number;
  errors: number;
  /** Validation diagnostics and too-long examples, merged in line order (capped). */
  diagnostics: DatasetDiagnostic[];
  diagnosticsOmitted: number;
  tokens: { total: number; exact: boolean; method: string; maxExample: number; contextLength?: number };
  model?: string;
}

/** Runs one analysis: in this thread (`analyseDataset`) or in a worker (`workerRunner`). */
export type AnalysisRunner = (source: AnalysisSource, signal: AbortSignal) => Promise<DatasetAnalysis>;

export interface AnalyzerOptions {
  /** Quiet time after the last edit before a document is analysed again. */
  debounceMs?: number;
  /** Where analyses run; default: in this thread (streamed, yielding between reads). */
  run?: AnalysisRunner;
  onResult(result: DatasetAnalysis): void;
  onError?(file: string, error: Error): void;
}

interface Pending { timer?: NodeJS.Timeout; abort: AbortController; version: number | string; model?: string; done: Promise<DatasetAnalysis | undefined> }

/**
 * Validates and counts datasets off the typing path: each request is debounced, a newer request for
 * the same file aborts the older one (its streamed read stops at the next chunk), and results for an
 * older version are never delivered. Validation and counting both stream (constant memory) and yield
 * to the event loop between chunks, so the extension host stays responsive on a 2 GB file.
 */
export class DatasetAnalyzer {
  private readonly pending = new Map<string, Pending>();
  private readonly latest = new Map<string, DatasetAnalysis>();
  private disposed = false;

  constructor(private readonly opts: AnalyzerOptions) {}

  /** The last finished analysis of a file, if it is for `version` (any version when omitted). */
  result(file: string, version?: number | string): DatasetAnalysis | undefined {
    const r = this.latest.get(file);
    return r && (version === undefined || r.version === version) ? r : undefined;
  }

  /** Analyse `source` after the debounce delay (0: now); cancels whatever was running for the file. */
  request(source: AnalysisSource, delayMs = this.opts.debounceMs ?? 400): Promise<DatasetAnalysis | undefined> {
    if (this.disposed) return Promise.resolve(undefined);
    const prev = this.pending.get(source.file);
    if (prev && prev.version === source.version && prev.model === source.model) {
      // Already waiting or running for this very version and model (the lens asks on every repaint): keep it.
      return prev.done;
    }
    this.cancel(source.file);
    const abort = new AbortController();
    const entry: Pending = { abort, version: source.version, model: source.model, done: Promise.resolve(undefined) };
    this.pending.set(source.file, entry);
    entry.done = new Promise((resolve) => {
      const run = () => {
        entry.timer = undefined;
        (this.opts.run ?? analyseDataset)(source, abort.signal).then((r) => {
          if (abort.signal.aborted || this.pending.get(source.file) !== entry) return resolve(undefined);
          this.pending.delete(source.file);
          this.latest.set(source.file, r);
          this.opts.onResult(r);
          resolve(r);
        }, (e: Error) => {
          if (this.pending.get(source.file) === entry) this.pending.delete(source.file);
          if (e.name !== 'AbortError' && !abort.signal.aborted) this.opts.onError?.(source.file, e);
          resolve(undefined);
        });
      };
      entry.timer = setTimeout(run, Math.max(0, delayMs));
      abort.signal.addEventListener('abort', () => { clearTimeout(entry.timer); resolve(undefined); }, { once: true });
    });
    return entry.done;
  }

  /** Stop any analysis of `file` (document closed, or a newer edit). */
  cancel(file: string): void {
    const p = this.pending.get(file);
    if (!p) return;
    this.pending.delete(file);
    clearTimeout(p.timer);
    p.abort.abort();
  }

  forget(file: string): void {
    this.cancel(file);
    this.latest.delete(file);
  }

  /** True while an analysis of `file` is waiting or running. */
  busy(file: string): boolean { return this.pending.has(file); }

  dispose(): void {
    this.disposed = true;
    for (const f of [...this.pending.keys()]) this.cancel(f);
  }
}

/**
 * Above this size the lens counts tokens with the bytes-per-token estimate (and says so): the real
 * Llama 3 tokenizer runs at 50–210 K tokens/s here, minutes for a few hundred MB. The cost view of a
 * submission counts exactly up to PLAN_EXACT_TOKEN_BYTES.
 */
export const LENS_EXACT_TOKEN_BYTES = 4 * 1024 * 1024;
export const PLAN_EXACT_TOKEN_BYTES = 16 * 1024 * 1024;
/**
 * Read size while counting tokens: tokenizing is ~100× slower than validating, so 16 KiB (~4 K tokens,
 * tens of ms) between yields keeps the extension host answering; validation keeps its 1 MiB reads.
 */
export const TOKEN_CHUNK_BYTES = 16 * 1024;

/**
 * Analyses in one worker thread (started on first use, from `workerFile`): the extension host only
 * posts the request. A cancelled run is cancelled in the worker too. If the worker cannot start or
 * dies, that run fails and later runs go to the in-thread `analyseDataset` (logged through `onBroken`).
 */
export function workerRunner(workerFile: string, opts: { execArgv?: string[]; onBroken?(e: Error): void } = {}): AnalysisRunner & { dispose(): void } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
  let worker: import('node:worker_threads').Worker | undefined;
  let broken = false;
  let seq = 0;
  const waiting = new Map<number, { resolve(r: DatasetAnalysis): void; reject(e: Error): void }>();
  const fail = (e: Error) => {
    broken = true;
    worker = undefined;
    opts.onBroken?.(e);
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  const start = () => {
    const w = new Worker(workerFile, { execArgv: opts.execArgv });
    w.unref();
    w.on('message', (m: { id: number; ok: boolean; result?: DatasetAnalysis; error?: { name: string; message: string } }) => {
      const p = waiting.get(m.id);
      if (!p) return;
      waiting.delete(m.id);
      if (m.ok) p.resolve(m.result!);
      else p.reject(Object.assign(new Error(m.error?.message), { name: m.error?.name ?? 'Error' }));
    });
    w.on('error', fail);
    w.on('exit', (code) => { if (worker === w && code !== 0) fail(new Error(`the dataset worker exited with code ${code}`)); });
    return w;
  };
  const run = (source: AnalysisSource, signal: AbortSignal): Promise<DatasetAnalysis> => {
    if (broken) return analyseDataset(source, signal);
    worker ??= start();
    const w = worker;
    const id = ++seq;
    return new Promise<DatasetAnalysis>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      signal.addEventListener('abort', () => {
        w.postMessage({ type: 'cancel', id });
        waiting.delete(id);
        reject(Object.assign(new Error('Cancelled'), { name: 'AbortError' }));
      }, { once: true });
      w.postMessage({ type: 'run', id, source });
    });
  };
  return Object.assign(run, { dispose: () => { void worker?.terminate(); worker = undefined; } });
}

/** One analysis: streamed validation, then streamed token counting against the model's context length. */
export async function analyseDataset(source: AnalysisSource, signal?: AbortSignal, exactTokenBytes = LENS_EXACT_TOKEN_BYTES): Promise<DatasetAnalysis> {
  const v = await validateDataset(source.file, { signal, text: source.text });
  const counter = v.bytes > exactTokenBytes
    ? estimateCounter(source.model ? modelFamily(source.model) : 'other', 'large file: an exact count would take minutes')
    : tokenCounterFor(source.model);
  const contextLength = source.model ? modelInfo(source.model).contextLength : undefined;
  const t = await countDatasetTokens(source.file, counter, { signal, text: source.text, contextLength, chunkSize: TOKEN_CHUNK_BYTES });
  const diagnostics = [...v.diagnostics, ...t.diagnostics].sort((a, b) => a.line - b.line);
  return {
    file: source.file, version: source.version, format: v.format, examples: v.examples, lines: v.lines, bytes: v.bytes,
    errors: v.errors + t.diagnostics.length + t.diagnosticsOmitted,
    diagnostics, diagnosticsOmitted: v.diagnosticsOmitted + t.diagnosticsOmitted,
    tokens: { total: t.tokens, exact: t.exact, method: t.method, maxExample: t.maxExampleTokens, contextLength },
    model: source.model,
  };
}
