import type * as z from 'zod';
import { RECORD_SCHEMAS, type DatasetFormat } from './schemas';

export interface RecordProblem {
  code: string;
  field?: string;
  message: string;
}

/** `['messages', 2, 'role']` → `messages[2].role`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

function problemOf(i: z.core.$ZodIssue): RecordProblem {
  const field = fieldPath(i.path) || undefined;
  const custom = i.code === 'custom' ? (i.params as { code?: string } | undefined)?.code : undefined;
  if (custom) return { code: custom, field, message: i.message };
  if (i.code === 'invalid_type') {
    const missing = /received undefined/.test(i.message);
    return { code: missing ? 'missing-field' : 'invalid-field', field, message: missing ? `missing ${field ?? 'field'}` : `${field ?? 'record'}: expected ${i.expected}` };
  }
  return { code: 'invalid-field', field, message: `${field ?? 'record'}: ${i.message}` };
}

/**
 * Every problem zod finds in a record the fast check rejected (slow, so only for failing lines).
 * Empty when zod accepts it, which would mean the two checks disagree (the tests guard against that).
 */
export function explainRecord(rec: unknown, format: DatasetFormat): RecordProblem[] {
  const r = RECORD_SCHEMAS[format].safeParse(rec);
  return r.success ? [] : r.error.issues.map(problemOf);
}
