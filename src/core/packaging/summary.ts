import { formatBytes } from '../format';
import type { PackageResult } from './result';

/** The human summary of a package (CLI output, the editor's "Show Summary"): what went in, what did not and why. */
export function packageSummary(r: PackageResult, written: string): string {
  const lines = [`Package ${r.sha256}${r.reused ? ' (unchanged: reused the existing package)' : ''}`, 'Datasets:'];
  const w = Math.max(...r.datasets.map((d) => d.id.length), 4);
  for (const d of r.datasets) lines.push(`  ${d.id.padEnd(w)}  ${String(d.files).padStart(7)} files  ${formatBytes(d.bytes).padStart(9)}  ${d.root} → ${d.archivePrefix}/`);
  if (r.excluded.length) {
    lines.push(`Excluded (${r.excluded.length}):`);
    for (const e of r.excluded) lines.push(`  ${e.dataset}: ${e.relPath} — ${e.reason}`);
  } else lines.push('Excluded: nothing');
  lines.push(`Total: ${r.totalFiles} files, ${formatBytes(r.totalBytes)} → zip ${formatBytes(r.zipBytes)} (verified: ${r.verified})`);
  lines.push(`Written: ${written}`);
  return `${lines.join('\n')}\n`;
}
