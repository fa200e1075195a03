import type { DatasetDiagnostic } from './schemas';

/** Zero-based line and columns of a diagnostic, as an editor range on one line. */
export interface LineSpan { line: number; start: number; end: number }

/** End column used when the line's text is not at hand (a file not open): editors clamp it to the line. */
export const WHOLE_LINE = 100_000;

/**
 * Where on its line a dataset diagnostic points. Invalid JSON: from the parser's column to the end of
 * the line. A field (`messages[2].role`): the key of that field, found as the (index+1)-th occurrence
 * of `"role"` on the line, which is right for the usual one-record-per-line shapes; when it cannot be
 * found, the whole line. BOM: the first character. Empty line: a zero-width span at its start.
 */
export function diagnosticSpan(d: DatasetDiagnostic, lineText?: string): LineSpan {
  const line = d.line - 1;
  if (lineText === undefined) {
    const start = d.column ? d.column - 1 : 0;
    return { line, start, end: d.code === 'bom' ? 1 : Math.max(start + 1, WHOLE_LINE) };
  }
  const len = lineText.length;
  if (d.code === 'bom') return { line, start: 0, end: Math.min(1, len) };
  if (d.column !== undefined) {
    // An error at the very end (a line cut short) marks the last character rather than nothing.
    const start = Math.max(0, Math.min(d.column - 1, len - 1));
    return { line, start, end: len };
  }
  if (d.field) {
    const at = fieldKeyOffset(lineText, d.field);
    if (at) return { line, ...at };
  }
  // Skip leading whitespace so the squiggle starts at the record.
  const first = lineText.search(/\S/);
  return { line, start: first < 0 ? 0 : first, end: len };
}

/** `messages[2].role` → the 3rd `"role"` key after the first `"messages"` key on the line. */
function fieldKeyOffset(text: string, field: string): { start: number; end: number } | undefined {
  const parts = [...field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
  const last = parts[parts.length - 1];
  const key = typeof last === 'string' ? last : typeof parts[parts.length - 2] === 'string' ? parts[parts.length - 2] as string : undefined;
  if (!key) return undefined;
  // The array index that says which occurrence: the last index before the key.
  let nth = 0;
  for (let i = parts.length - 1; i >= 0; i--) if (typeof parts[i] === 'number') { nth = parts[i] as number; break; }
  const root = typeof parts[0] === 'string' && parts[0] !== key ? text.indexOf(`"${parts[0]}"`) : 0;
  let at = Math.max(0, root);
  const needle = `"${key}"`;
  for (let k = 0; k <= nth; k++) {
    const found = text.indexOf(needle, k === 0 && root > 0 ? at + 1 : at);
    if (found < 0) return undefined;
    at = found + (k < nth ? needle.length : 0);
  }
  return { start: at, end: at + needle.length };
}
