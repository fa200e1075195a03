import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * `--config` accepts a training config or a dataloader config. A dataloader config is a JSON list of
 * datasets or `{"datasets": [...]}` (or named multidatabackend*); anything else is a training config.
 */
export async function configKind(file: string): Promise<'training' | 'dataloader'> {
  const base = path.basename(file).toLowerCase();
  if (base.startsWith('multidatabackend')) return 'dataloader';
  if (path.extname(base) !== '.json') return 'training';
  try {
    const v: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    if (Array.isArray(v) || (typeof v === 'object' && v !== null && Array.isArray((v as { datasets?: unknown }).datasets))) return 'dataloader';
  } catch { /* unreadable: let the config step report it */ }
  return 'training';
}
