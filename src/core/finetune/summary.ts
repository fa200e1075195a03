import type { DatasetFormat } from './schemas';

const FORMAT_LABEL: Record<DatasetFormat, string> = {
  chat: 'chat format',
  instruction: 'prompt/completion format',
  preference: 'preference (DPO) format',
  text: 'text format',
};

/** `3.1 M`, `812 K`, `950`: the compact token figure the lens and the cost view show. */
export function compactCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e4) return `${Math.round(n / 1e3)} K`;
  return n.toLocaleString('en-US');
}

export interface DatasetFacts {
  examples: number;
  format?: DatasetFormat;
  errors: number;
  /** Undefined while counting. */
  tokens?: { total: number; exact: boolean };
}

/**
 * The first lens above a dataset: "12,480 examples · 3.1 M tokens · chat format". An estimated token
 * count says so ("~3.1 M tokens (estimate)"); errors are named so nobody submits a broken file.
 */
export function datasetLensTitle(f: DatasetFacts): string {
  const parts = [`${f.examples.toLocaleString('en-US')} example${f.examples === 1 ? '' : 's'}`];
  if (f.tokens === undefined) parts.push('counting tokens…');
  else parts.push(f.tokens.exact ? `${compactCount(f.tokens.total)} tokens` : `~${compactCount(f.tokens.total)} tokens (estimate)`);
  parts.push(f.format ? FORMAT_LABEL[f.format] : 'format unknown');
  if (f.errors) parts.push(`$(error) ${f.errors.toLocaleString('en-US')} error${f.errors === 1 ? '' : 's'}`);
  return parts.join(' · ');
}

export const formatLabel = (f: DatasetFormat | undefined): string => (f ? FORMAT_LABEL[f] : 'unknown format');
