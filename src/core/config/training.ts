import { promises as fs } from 'node:fs';
import path from 'node:path';
import { getNodeValue } from 'jsonc-parser';
import * as z from 'zod';
import type { ConfigDiagnostic } from './diagnostics';
import { parseStrictJson } from './json-syntax';
import { resolveConfigPath } from './paths';

export type TrainingConfigFormat = 'json' | 'toml' | 'env';

export interface TrainingConfig {
  path: string;
  format: TrainingConfigFormat;
  /** Keys without the leading `--` (SimpleTuner accepts both spellings). */
  values: Record<string, unknown>;
  /** The file's own key spelling for each normalised key, so a rewrite keeps the user's style. */
  originalKeys: Record<string, string>;
  /** Absolute path of the dataloader config named by `data_backend_config`, if any. */
  dataloaderPath?: string;
  diagnostics: ConfigDiagnostic[];
}

const ObjectSchema = z.record(z.string(), z.unknown());

/** Old SimpleTuner config.env variables and the option each one sets. */
const ENV_ALIASES: Record<string, string> = {
  dataloader_config: 'data_backend_config',
  model_family: 'model_family',
  output_dir: 'output_dir',
};

export const normaliseKey = (k: string): string => k.replace(/^-+/, '').trim();

export function formatOf(file: string): TrainingConfigFormat | undefined {
  const ext = path.extname(file).toLowerCase();
  return ext === '.json' ? 'json' : ext === '.toml' ? 'toml' : ext === '.env' ? 'env' : undefined;
}

/** Load a SimpleTuner training config (config.json / config.toml / config.env). */
export async function loadTrainingConfig(file: string, workspaceRoot?: string): Promise<TrainingConfig> {
  const abs = path.resolve(file);
  const format = formatOf(abs);
  if (!format) throw new Error(`${abs}: not a training config (expected .json, .toml or .env)`);
  const text = await fs.readFile(abs, 'utf8');
  const cfg = await parseTrainingConfig(text, abs, format);
  const backend = cfg.values.data_backend_config;
  if (typeof backend === 'string' && backend.trim()) cfg.dataloaderPath = await resolveConfigPath(backend, abs, workspaceRoot);
  return cfg;
}

export async function parseTrainingConfig(text: string, file: string, format: TrainingConfigFormat): Promise<TrainingConfig> {
  const cfg: TrainingConfig = { path: file, format, values: {}, originalKeys: {}, diagnostics: [] };
  let raw: Record<string, unknown> = {};
  try {
    if (format === 'json') {
      // Strict, with the exact place of each syntax error (SimpleTuner reads it with json.load).
      const { tree, diagnostics } = parseStrictJson(text);
      if (diagnostics.length) { cfg.diagnostics.push(...diagnostics); return cfg; }
      const parsed = ObjectSchema.safeParse(tree ? getNodeValue(tree) : undefined);
      if (!parsed.success) throw new Error('a training config.json must be a JSON object of options');
      raw = parsed.data;
    } else if (format === 'toml') {
      // smol-toml is ESM-only; a dynamic import keeps this CommonJS module loadable (esbuild inlines it).
      const { parse } = await import('smol-toml');
      raw = flattenToml(parse(text) as Record<string, unknown>);
    }
    else raw = parseEnvConfig(text);
  } catch (e) {
    // smol-toml's errors carry the 1-based line and column: point there, with the first line of its message.
    const { line, column } = e as { line?: number; column?: number };
    const offset = typeof line === 'number' && typeof column === 'number' ? offsetOf(text, line, column) : 0;
    cfg.diagnostics.push({ severity: 'error', code: 'parse', offset, length: 1, message: `Cannot read ${path.basename(file)}: ${(e as Error).message.split('\n')[0]}` });
    return cfg;
  }
  for (const [k, v] of Object.entries(raw)) {
    const key = normaliseKey(k);
    if (key in cfg.values) {
      cfg.diagnostics.push({ severity: 'warning', code: 'duplicate-key', offset: Math.max(0, text.indexOf(k)), length: k.length, message: `"${key}" is set twice (with and without "--"); the last one wins.` });
    }
    cfg.values[key] = v;
    cfg.originalKeys[key] = k;
  }
  return cfg;
}

/** TOML tables are SimpleTuner's grouping only; option names are the leaf keys. */
function flattenToml(obj: Record<string, unknown>, out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) flattenToml(v as Record<string, unknown>, out);
    else out[k] = v;
  }
  return out;
}

/**
 * config.env: shell assignments (`export MODEL_TYPE=lora`, `TRAINER_EXTRA_ARGS="--a=1 --b"`) or one
 * `--option=value` per line. Values are kept as strings, like SimpleTuner's own argv.
 */
export function parseEnvConfig(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const line0 of text.split(/\r?\n/)) {
    const line = line0.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('--')) { Object.assign(out, parseArgs(line)); continue; }
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    const name = m[1]!.toLowerCase();
    const value = unquote(m[2]!.trim());
    if (name === 'trainer_extra_args') Object.assign(out, parseArgs(value));
    else out[ENV_ALIASES[name] ?? name] = value;
  }
  return out;
}

function parseArgs(s: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const tokens = s.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.startsWith('--')) continue;
    const eq = t.indexOf('=');
    if (eq > 0) out[t.slice(0, eq)] = unquote(t.slice(eq + 1));
    else if (tokens[i + 1] && !tokens[i + 1]!.startsWith('--')) out[t] = unquote(tokens[++i]!);
    else out[t] = true;
  }
  return out;
}

const unquote = (v: string): string => (/^(["']).*\1$/.test(v) ? v.slice(1, -1) : v.replace(/\s+#.*$/, ''));

/** Offset of a 1-based line and column in the text. */
function offsetOf(text: string, line: number, column: number): number {
  let at = 0;
  for (let l = 1; l < line; l++) { const nl = text.indexOf('\n', at); if (nl < 0) break; at = nl + 1; }
  return Math.min(text.length, at + Math.max(0, column - 1));
}
