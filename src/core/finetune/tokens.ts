import { promises as fs } from 'node:fs';
import { claimedFormat, isValidRecord } from './fast-check';
import { scanLines, scanText } from './lines';
import type { DatasetDiagnostic } from './schemas';
import type { TokenCounter } from './tokenizers';
import { DEFAULT_MAX_DIAGNOSTICS, type ValidationProgress } from './validate';

export interface TokenCountOptions {
  signal?: AbortSignal;
  onProgress?: (p: ValidationProgress) => void;
  /** Report examples longer than this many tokens (the model's or the provider's context length). */
  contextLength?: number;
  maxDiagnostics?: number;
  chunkSize?: number;
  /** The text of an open document with unsaved edits, counted instead of the file on disk. */
  text?: string;
}

export interface DatasetTokens {
  /** Tokens of every valid example, template overhead included. */
  tokens: number;
  examples: number;
  /** False when `tokens` is an estimate (no tokenizer shipped for the model family). */
  exact: boolean;
  method: string;
  maxExampleTokens: number;
  /** `too-long` diagnostics (capped like validation's). */
  diagnostics: DatasetDiagnostic[];
  diagnosticsOmitted: number;
  seconds: number;
}

type Msg = { role: string; content?: unknown };
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * Tokens one valid record costs. Chat: the messages with the template overhead. Instruction: prompt +
 * completion + begin/end of text. Preference (DPO): the prompt is processed with each of the two
 * answers, so it counts twice (our assumption; the providers do not document it).
 */
export function recordTokens(rec: Record<string, unknown>, c: TokenCounter): number {
  const msgs = (list: unknown) => (list as Msg[]).reduce((n, m) => n + c.count(text(m.content)) + c.perMessage, 0);
  if (Array.isArray(rec.messages)) return c.perExample + msgs(rec.messages);
  if (typeof rec.prompt === 'string') return c.perExample + 1 + c.count(rec.prompt) + c.count(text(rec.completion));
  if (typeof rec.text === 'string') return c.perExample + 1 + c.count(rec.text);
  const input = msgs((rec.input as { messages: unknown }).messages);
  return 2 * (c.perExample + input) + msgs(rec.preferred_output) + msgs(rec.non_preferred_output);
}

/**
 * Count a dataset's tokens, streaming it like validation does. Lines that do not validate are skipped
 * (validation reports them); the count is separate from validation because tokenizing is the slow part.
 */
export async function countDatasetTokens(file: string, counter: TokenCounter, opts: TokenCountOptions = {}): Promise<DatasetTokens> {
  const started = performance.now();
  const max = opts.maxDiagnostics ?? DEFAULT_MAX_DIAGNOSTICS;
  const totalBytes = opts.text !== undefined ? opts.text.length : (await fs.stat(file)).size;
  const diagnostics: DatasetDiagnostic[] = [];
  let omitted = 0, tokens = 0, examples = 0, maxExample = 0, lines = 0, lastProgress = 0;
  let fileFormat: string | undefined;
  const scan = (h: Parameters<typeof scanLines>[1], o: Parameters<typeof scanLines>[2]) => (opts.text !== undefined ? scanText(opts.text, h, o) : scanLines(file, h, o));
  await scan((raw, line) => {
    lines = line;
    const t = line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
    let rec: unknown;
    try { rec = JSON.parse(t); } catch { return; }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return;
    const format = claimedFormat(rec as Record<string, unknown>);
    if (format === undefined || format === 'ambiguous' || (fileFormat && format !== fileFormat) || !isValidRecord(rec as Record<string, unknown>, format)) return;
    // Same rule as validation: the first valid record sets the format; other formats are not examples.
    fileFormat ??= format;
    const n = recordTokens(rec as Record<string, unknown>, counter);
    tokens += n;
    examples++;
    if (n > maxExample) maxExample = n;
    if (opts.contextLength && n > opts.contextLength) {
      const d: DatasetDiagnostic = { severity: 'error', line, code: 'too-long',
        message: `example is ${counter.exact ? '' : '~'}${n} tokens, longer than the context length ${opts.contextLength}${counter.exact ? '' : ' (estimate)'}` };
      if (diagnostics.length < max) diagnostics.push(d); else omitted++;
    }
  }, {
    signal: opts.signal,
    chunkSize: opts.chunkSize,
    onChunk: (bytesRead) => {
      const now = Date.now();
      if (opts.onProgress && (now - lastProgress >= 100 || bytesRead === totalBytes)) {
        lastProgress = now;
        opts.onProgress({ bytesRead, totalBytes, lines });
      }
    },
  });
  return { tokens, examples, exact: counter.exact, method: counter.method, maxExampleTokens: maxExample, diagnostics, diagnosticsOmitted: omitted, seconds: (performance.now() - started) / 1000 };
}
