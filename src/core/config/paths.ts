import { promises as fs } from 'node:fs';
import path from 'node:path';
import { expandHome } from '../paths';

/**
 * Folders a relative path in a config may be relative to, most likely first. SimpleTuner resolves
 * them against its working directory, which is the folder holding `config/`; we also try the
 * config file's own folder, for configs kept beside their data.
 */
export function baseDirsFor(configPath: string, workspaceRoot?: string): string[] {
  const dirs: string[] = [];
  const abs = path.resolve(configPath);
  const parts = abs.split(path.sep);
  const configIdx = parts.lastIndexOf('config');
  if (configIdx > 0 && configIdx < parts.length - 1) dirs.push(parts.slice(0, configIdx).join(path.sep) || path.sep);
  if (workspaceRoot) dirs.push(path.resolve(workspaceRoot));
  dirs.push(path.dirname(abs));
  return [...new Set(dirs)];
}

/** The absolute path a config value names: the first candidate that exists, else the most likely one. */
export async function resolveConfigPath(value: string, configPath: string, workspaceRoot?: string): Promise<string> {
  const v = expandHome(value.trim());
  if (path.isAbsolute(v)) return path.normalize(v);
  const candidates = baseDirsFor(configPath, workspaceRoot).map((b) => path.resolve(b, v));
  for (const c of candidates) if (await exists(c)) return c;
  return candidates[0]!;
}

export async function exists(p: string): Promise<boolean> {
  try { await fs.access(p); return true; } catch { return false; }
}
