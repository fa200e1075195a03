import * as z from 'zod';
import { formatBytes } from '../format';
import { DataRouteSummarySchema } from '../submit/data-route';

/**
 * Everything a person needs to decide whether data may leave the machine (F4). Built from the
 * packaging result; shown in the consent webview and on the terminal, and validated on both sides.
 */
export const ConsentSummarySchema = z.object({
  provider: z.string(),
  providerName: z.string(),
  /** Where the bytes go, e.g. "Replicate file storage (api.replicate.com), then a training on l40s". */
  destination: z.string(),
  /** What happens to the data afterwards. */
  afterwards: z.string(),
  datasets: z.array(z.object({
    id: z.string(), root: z.string(), files: z.number().int().nonnegative(), bytes: z.number().nonnegative(),
    /** Fine-tune JSONL files: their line count (one record per line), shown beside the size. */
    lines: z.number().int().nonnegative().optional(),
  })),
  excluded: z.array(z.object({ dataset: z.string(), relPath: z.string(), reason: z.string() })),
  totalFiles: z.number().int().nonnegative(),
  totalBytes: z.number().nonnegative(),
  /** Size of the upload itself (compressed package). */
  uploadBytes: z.number().nonnegative().optional(),
  /** True when an identical package was uploaded before (content-addressed) and will not be sent again. */
  reused: z.boolean().default(false),
  workspace: z.string().optional(),
  /** How the trainer will get the data (providers with `planData`): route, what changes, credentials. */
  dataRoute: DataRouteSummarySchema.optional(),
});
export type ConsentSummary = z.infer<typeof ConsentSummarySchema>;

/** The same facts as the webview, as plain text for `cloudtrain submit`. */
export function consentSummaryText(s: ConsentSummary): string {
  const lines = [
    `Data to upload to ${s.providerName}:`,
    ...s.datasets.map((d) => `  • ${d.id}: ${d.lines !== undefined ? `${d.lines.toLocaleString('en-US')} lines` : `${d.files} files`}, ${formatBytes(d.bytes)} (${d.root})`),
    `  total ${s.totalFiles} files, ${formatBytes(s.totalBytes)}${s.uploadBytes !== undefined ? `, upload ${formatBytes(s.uploadBytes)}` : ''}${s.reused ? ' (already uploaded once; not sent again)' : ''}`,
  ];
  if (s.excluded.length) {
    lines.push(`Not included (${s.excluded.length}):`);
    for (const e of s.excluded.slice(0, 20)) lines.push(`  – ${e.dataset}/${e.relPath}: ${e.reason}`);
    if (s.excluded.length > 20) lines.push(`  … and ${s.excluded.length - 20} more`);
  }
  if (s.dataRoute) lines.push(...dataRouteLines(s.dataRoute));
  lines.push(`Destination: ${s.destination}`, `Afterwards: ${s.afterwards}`);
  return lines.join('\n');
}

/** The data route as text lines (terminal consent; the webview shows the same facts). */
export function dataRouteLines(r: z.infer<typeof DataRouteSummarySchema>): string[] {
  const lines = [`Data route: ${r.title}`, ...r.detail.map((d) => `  ${d}`)];
  if (r.changes.length) lines.push('What the trainer does differently from your dataloader config:', ...r.changes.map((c) => `  ! ${c}`));
  if (r.credentials) lines.push(`Credentials: ${r.credentials}`);
  return lines;
}
