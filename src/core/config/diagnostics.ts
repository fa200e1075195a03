import * as z from 'zod';

export const DiagnosticSchema = z.object({
  severity: z.enum(['error', 'warning', 'info']),
  message: z.string(),
  /** Offset and length in the file's text; the VS Code layer turns them into a range. */
  offset: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
  code: z.string(),
  datasetId: z.string().optional(),
});
export type ConfigDiagnostic = z.infer<typeof DiagnosticSchema>;

export const hasErrors = (d: readonly ConfigDiagnostic[]): boolean => d.some((x) => x.severity === 'error');

/** 1-based line/column of an offset, for the CLI. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1, last = -1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) { line++; last = i; }
  return { line, column: offset - last };
}
