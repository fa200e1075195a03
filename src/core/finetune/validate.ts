import { promises as fs } from 'node:fs';
import { explainRecord } from './explain';
import { jsonErrorIndex } from './json-error';
import { claimedFormat, isValidRecord } from './fast-check';
import { DEFAULT_MAX_LINE_BYTES, scanLines, scanText } from './lines';
import type { DatasetDiagnostic, DatasetFormat } from './schemas';

export interface ValidationProgress {
  bytesRead: number;
  totalBytes: number;
  lines: number;
}

export interface ValidateOptions {
  signal?: AbortSignal;
  /** Diagnostics kept; the rest are only counted (a broken 2 GB file must not produce millions). */
  maxDiagnostics?: number;
  onProgress?: (p: ValidationProgress) => void;
  /** Read size in bytes (tests use a tiny one). */
  chunkSize?: number;
  /** Longest line read into memory; longer ones are reported, not parsed (default 64 MiB). */
  maxLineBytes?: number;
  /**
   * The file's text when it is open with unsaved edits: validated instead of the file on disk (the
   * editor already holds it in memory). Absent: the file is streamed from disk.
   */
  text?: string;
}

export interface DatasetValidation {
  file: string;
  /** Format of the first valid record; undefined when there is none. */
  format?: DatasetFormat;
  /** Lines that are valid records of `format`. */
  examples: number;
  lines: number;
  bytes: number;
  errors: number;
  warnings: number;
  /** The first `maxDiagnostics` diagnostics, in line order. */
  diagnostics: DatasetDiagnostic[];
  /** Diagnostics found beyond the cap. */
  diagnosticsOmitted: number;
  ok: boolean;
}

export const DEFAULT_MAX_DIAGNOSTICS = 100;

/** 1-based column of a JSON.parse failure (UTF-16 units, as editors count): V8's position when it gives one. */
export function jsonErrorColumn(message: string, text: string): number {
  const col = /\(line \d+ column (\d+)\)/.exec(message);
  if (col) return Number(col[1]);
  const pos = /at position (\d+)/.exec(message);
  if (pos) return Number(pos[1]) + 1;
  const at = jsonErrorIndex(text);
  return (at < 0 ? text.length : at) + 1;
}

/**
 * Validate a fine-tune JSONL file line by line, streaming it (constant memory) and yielding to the event
 * loop between chunks, so the editor stays responsive. Errors name the line and the field. The file's
 * format is the format of its first valid record; a later record of another format is a `mixed-format`
 * error. Tokens are counted separately (tokens.ts): tokenizing is several times slower than this.
 */
export async function validateDataset(file: string, opts: ValidateOptions = {}): Promise<DatasetValidation> {
  const max = opts.maxDiagnostics ?? DEFAULT_MAX_DIAGNOSTICS;
  const totalBytes = opts.text !== undefined ? opts.text.length : (await fs.stat(file)).size;
  const diagnostics: DatasetDiagnostic[] = [];
  let omitted = 0, errors = 0, warnings = 0, examples = 0;
  let format: DatasetFormat | undefined;
  let firstFormatLine = 0;
  let lines = 0;

  const report = (d: DatasetDiagnostic) => {
    if (d.severity === 'error') errors++; else warnings++;
    if (diagnostics.length < max) diagnostics.push(d); else omitted++;
  };

  const onLine = (raw: string, line: number) => {
    lines = line;
    let text = raw;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) {
      report({ severity: 'error', line, column: 1, code: 'bom', message: 'the file starts with a UTF-8 byte order mark (BOM); save it as UTF-8 without BOM' });
      text = text.slice(1);
    }
    if (text.trim() === '') {
      report({ severity: 'error', line, code: 'empty-line', message: 'empty line (every line must hold one JSON record)' });
      return;
    }
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch (e) {
      const msg = (e as Error).message;
      report({ severity: 'error', line, column: jsonErrorColumn(msg, text), code: 'invalid-json', message: `invalid JSON: ${msg}` });
      return;
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) {
      report({ severity: 'error', line, code: 'not-an-object', message: 'each line must be a JSON object' });
      return;
    }
    const claimed = claimedFormat(rec as Record<string, unknown>);
    if (claimed === undefined || claimed === 'ambiguous') {
      const keys = Object.keys(rec).slice(0, 6).join(', ') || 'none';
      report({ severity: 'error', line, code: claimed === 'ambiguous' ? 'ambiguous-format' : 'unknown-format',
        message: claimed === 'ambiguous'
          ? `the record has fields of two formats (keys: ${keys}); keep only one of messages | prompt/completion | input/preferred_output/non_preferred_output | text`
          : `not a fine-tune record (keys: ${keys}); expected messages, prompt/completion, input/preferred_output/non_preferred_output or text` });
      return;
    }
    if (format !== undefined && claimed !== format) {
      report({ severity: 'error', line, code: 'mixed-format', message: `${claimed} record in a ${format} file (format set by line ${firstFormatLine}); one file holds one format` });
      return;
    }
    if (isValidRecord(rec as Record<string, unknown>, claimed)) {
      if (format === undefined) { format = claimed; firstFormatLine = line; }
      examples++;
      return;
    }
    const problems = explainRecord(rec, claimed);
    if (problems.length === 0) problems.push({ code: 'invalid-record', message: `not a valid ${claimed} record` });
    for (const p of problems) report({ severity: 'error', line, field: p.field, code: p.code, message: p.field && !p.message.includes(p.field) ? `${p.field}: ${p.message}` : p.message });
  };

  let lastProgress = 0;
  const scan = opts.text !== undefined ? (h: typeof onLine, o: Parameters<typeof scanText>[2]) => scanText(opts.text!, h, o) : (h: typeof onLine, o: Parameters<typeof scanLines>[2]) => scanLines(file, h, o);
  const { bytes } = await scan(onLine, {
    signal: opts.signal,
    chunkSize: opts.chunkSize,
    maxLineBytes: opts.maxLineBytes,
    onOversizedLine: (line, size) => {
      lines = line;
      report({ severity: 'error', line, code: 'line-too-large', message: `line of ${size} bytes is larger than ${opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES} bytes; not read` });
    },
    onChunk: (bytesRead) => {
      const now = Date.now();
      if (opts.onProgress && (now - lastProgress >= 100 || bytesRead === totalBytes)) {
        lastProgress = now;
        opts.onProgress({ bytesRead, totalBytes, lines });
      }
    },
  });
  if (lines === 0) report({ severity: 'error', line: 1, code: 'empty-file', message: 'the file holds no records' });
  return { file, format, examples, lines, bytes, errors, warnings, diagnostics, diagnosticsOmitted: omitted, ok: errors === 0 };
}
