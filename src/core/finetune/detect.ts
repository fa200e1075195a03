import { promises as fs } from 'node:fs';
import { claimedFormat } from './fast-check';
import type { DatasetFormat } from './schemas';

/** `.jsonl` files are candidates; whether one is a fine-tune dataset is decided by its first records. */
export const isJsonlPath = (file: string): boolean => /\.jsonl$/i.test(file);

/** Bytes of a file read to decide whether it is a fine-tune dataset (never the whole file). */
export const SNIFF_BYTES = 1024 * 1024;
/** Records looked at: a file whose first 20 records claim no fine-tune format is some other JSONL. */
export const SNIFF_RECORDS = 20;

export interface Sniffed {
  /** The format the first claiming record names; `undefined` when none does (not a dataset). */
  format?: DatasetFormat;
  /** True when some record claims two formats (still a dataset: validation explains it). */
  ambiguous: boolean;
}

/**
 * Decide from the start of a `.jsonl` file whether it is a fine-tune dataset (chat, prompt/completion,
 * preference or text records, the shapes core validation knows) — the same key rule as validation's
 * `claimedFormat`, so every file that gets diagnostics also gets the lens and vice versa. Lines that are
 * not JSON are skipped (a dataset with a broken first line is still a dataset); a `text` record counts
 * only when it has at most one other key, so a log file with a `text` field is not taken for a dataset.
 */
export function sniffFinetuneFormat(head: string): Sniffed {
  let records = 0;
  let ambiguous = false;
  let start = head.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (start < head.length && records < SNIFF_RECORDS) {
    let nl = head.indexOf('\n', start);
    if (nl === -1) nl = head.length;
    const line = head.slice(start, nl).trim();
    start = nl + 1;
    if (!line.startsWith('{')) continue;
    let rec: unknown;
    try { rec = JSON.parse(line); } catch { continue; } // also a last line cut by the sniff window
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) continue;
    records++;
    const claimed = claimedFormat(rec as Record<string, unknown>);
    if (claimed === 'ambiguous') { ambiguous = true; continue; }
    if (claimed === 'text' && Object.keys(rec).length > 2) continue;
    if (claimed) return { format: claimed, ambiguous };
  }
  // Not one whole record in the window (a first conversation longer than it): go by the first key.
  if (records === 0 && /^\uFEFF?\s*\{\s*"(messages|prompt|completion|input|preferred_output|non_preferred_output)"\s*:/.test(head)) {
    const key = /"(\w+)"/.exec(head)![1]!;
    return { format: key === 'messages' ? 'chat' : key === 'prompt' || key === 'completion' ? 'instruction' : 'preference', ambiguous };
  }
  return { ambiguous };
}

/** True when the text (or the start of it) looks like a fine-tune dataset. */
export function looksLikeFinetuneDataset(head: string): boolean {
  const s = sniffFinetuneFormat(head);
  return s.format !== undefined || s.ambiguous;
}

/** The first SNIFF_BYTES of a file, decoded (a multi-byte character cut at the end is harmless: that line is skipped). */
export async function readHead(file: string, bytes = SNIFF_BYTES): Promise<string> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.toString('utf8', 0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Whether a `.jsonl` file on disk is a fine-tune dataset (reads at most SNIFF_BYTES). */
export async function isFinetuneDatasetFile(file: string): Promise<boolean> {
  if (!isJsonlPath(file)) return false;
  try { return looksLikeFinetuneDataset(await readHead(file)); } catch { return false; }
}
