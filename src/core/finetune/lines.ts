import { createReadStream } from 'node:fs';
import { abortError } from '../packaging/abort';

export interface LineReadOptions {
  signal?: AbortSignal;
  /** Read size; tests pass a tiny one to put chunk boundaries inside multi-byte characters. */
  chunkSize?: number;
  /** Called after each chunk with the bytes read so far. */
  onChunk?: (bytesRead: number) => void;
  /** Longest line kept in memory (default 64 MiB); a longer one goes to `onOversizedLine`, unread. */
  maxLineBytes?: number;
  onOversizedLine?: (line: number, bytes: number) => void;
}

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

const NL = 0x0a;
const CR = 0x0d;

/** Called for every line, synchronously: no promise per line on the hot path. */
export type LineHandler = (text: string, line: number, bytes: number) => void;

/**
 * Every line of a file, streamed: memory stays at one chunk plus the longest line, whatever the file
 * size. Splitting happens on the `\n` byte, never on decoded text, so a UTF-8 character cut by a chunk
 * boundary is decoded whole (0x0A never occurs inside a multi-byte sequence). `\r\n` is accepted. A
 * final line without `\n` is still a line; the empty string after a trailing `\n` is not.
 * Resolves to the number of lines and bytes; rejects with an AbortError when `signal` fires.
 */
export async function scanLines(file: string, onLine: LineHandler, opts: LineReadOptions = {}): Promise<{ lines: number; bytes: number }> {
  const stream = createReadStream(file, { highWaterMark: opts.chunkSize ?? 1024 * 1024 });
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  let carry: Buffer | undefined;
  // Bytes of a line past maxLine so far: it is skipped, not buffered (a 2 GB file with no newline).
  let oversized: number | undefined;
  let lineNo = 0;
  let bytesRead = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      bytesRead += chunk.length;
      let start = 0;
      let nl = chunk.indexOf(NL, 0);
      while (nl !== -1) {
        if (oversized !== undefined || (carry?.length ?? 0) + nl - start > maxLine) {
          // Also a long line that happens to sit inside one chunk: the rule must not depend on chunking.
          opts.onOversizedLine?.(++lineNo, (oversized ?? carry?.length ?? 0) + nl - start + 1);
          oversized = undefined;
          carry = undefined;
        } else if (carry) {
          const whole = Buffer.concat([carry, chunk.subarray(0, nl)]);
          carry = undefined;
          const end = whole.length > 0 && whole[whole.length - 1] === CR ? whole.length - 1 : whole.length;
          onLine(whole.toString('utf8', 0, end), ++lineNo, whole.length + 1);
        } else {
          const end = nl > start && chunk[nl - 1] === CR ? nl - 1 : nl;
          onLine(chunk.toString('utf8', start, end), ++lineNo, nl - start + 1);
        }
        start = nl + 1;
        nl = chunk.indexOf(NL, start);
      }
      if (start < chunk.length) {
        const rest = chunk.length - start;
        if (oversized !== undefined) oversized += rest;
        else if ((carry?.length ?? 0) + rest > maxLine) {
          oversized = (carry?.length ?? 0) + rest;
          carry = undefined;
        } else {
          // Copy the tail: the stream may reuse the chunk's memory.
          carry = carry ? Buffer.concat([carry, chunk.subarray(start)]) : Buffer.from(chunk.subarray(start));
        }
      }
      opts.onChunk?.(bytesRead);
    }
    if (oversized !== undefined) opts.onOversizedLine?.(++lineNo, oversized);
    else if (carry && carry.length > 0) {
      const end = carry[carry.length - 1] === CR ? carry.length - 1 : carry.length;
      onLine(carry.toString('utf8', 0, end), ++lineNo, carry.length);
    }
  } finally {
    stream.destroy();
  }
  return { lines: lineNo, bytes: bytesRead };
}

/**
 * The same contract as `scanLines` over text already in memory (an open editor's unsaved document):
 * lines split on `\n` with a trailing `\r` dropped, and a yield to the event loop every `yieldEvery`
 * characters so a large buffer does not hold the extension host. `bytes` counts UTF-16 units.
 */
export async function scanText(text: string, onLine: LineHandler, opts: LineReadOptions & { yieldEvery?: number } = {}): Promise<{ lines: number; bytes: number }> {
  const step = opts.yieldEvery ?? opts.chunkSize ?? 1024 * 1024;
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  let lineNo = 0;
  let start = 0;
  let nextYield = step;
  while (start < text.length) {
    let nl = text.indexOf('\n', start);
    const last = nl === -1;
    if (last) nl = text.length;
    const end = nl > start && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    if (end - start > maxLine) opts.onOversizedLine?.(++lineNo, end - start);
    else onLine(text.slice(start, end), ++lineNo, nl - start + (last ? 0 : 1));
    start = nl + 1;
    if (start >= nextYield) {
      nextYield = start + step;
      opts.onChunk?.(Math.min(start, text.length));
      await new Promise<void>((r) => setImmediate(r));
      if (opts.signal?.aborted) throw abortError(opts.signal);
    }
  }
  opts.onChunk?.(text.length);
  return { lines: lineNo, bytes: text.length };
}
