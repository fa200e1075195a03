import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { fieldPath } from './explain';

/**
 * An optional small job file beside the dataset: `finetune.json` / `finetune.toml`, or the relevant keys
 * of an axolotl YAML config. Keys follow the providers' own names where they agree (Together:
 * n_epochs, learning_rate, lora_r; axolotl: base_model, num_epochs, lora_r, val_set_size).
 */
export const FinetuneJobSchema = z.object({
  base_model: z.string().min(1),
  training_file: z.string().min(1).optional(),
  validation_file: z.string().min(1).optional(),
  /** Fraction of the training file held out for validation (axolotl `val_set_size`). */
  val_set_size: z.number().min(0).max(1).optional(),
  n_epochs: z.number().int().positive().default(1),
  learning_rate: z.number().positive().optional(),
  lora: z.boolean().default(true),
  lora_r: z.number().int().positive().optional(),
  method: z.enum(['sft', 'dpo']).default('sft'),
  n_evals: z.number().int().nonnegative().default(0),
  provider: z.enum(['together', 'fireworks']).optional(),
}).strict();
export type FinetuneJob = z.infer<typeof FinetuneJobSchema>;

/** Aliases accepted in finetune.json/.toml so people can use either provider's or axolotl's name. */
const ALIASES: Record<string, string> = { model: 'base_model', epochs: 'n_epochs', num_epochs: 'n_epochs', lora_rank: 'lora_r' };

export class JobFileError extends Error {
  constructor(readonly file: string, readonly field: string | undefined, message: string) {
    super(`${file}${field ? `: ${field}` : ''}: ${message}`);
    this.name = 'JobFileError';
  }
}

function validate(file: string, raw: Record<string, unknown>, spelled: Record<string, string> = {}): FinetuneJob {
  const renamed: Record<string, unknown> = {};
  const writtenAs: Record<string, string> = { ...spelled };
  for (const [k, v] of Object.entries(raw)) {
    const canonical = ALIASES[k] ?? k;
    renamed[canonical] = v;
    writtenAs[canonical] ??= k;
  }
  const r = FinetuneJobSchema.safeParse(renamed);
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  // Name the field as the file spells it (`lora_rank`, not our `lora_r`).
  const [head, ...rest] = first.path;
  const path = typeof head === 'string' ? [writtenAs[head] ?? head, ...rest] : first.path;
  const field = first.code === 'unrecognized_keys' ? first.keys.join(', ') : fieldPath(path) || undefined;
  throw new JobFileError(file, field, first.code === 'unrecognized_keys' ? 'unknown key' : first.message);
}

const AXOLOTL_KEYS = ['base_model', 'num_epochs', 'learning_rate', 'lora_r', 'val_set_size', 'adapter'] as const;

function yamlScalar(v: string): string | number | boolean {
  const s = v.replace(/\s+#.*$/, '').trim();
  const quoted = /^(['"])(.*)\1$/.exec(s);
  if (quoted) return quoted[2]!;
  if (s === 'true' || s === 'false') return s === 'true';
  const n = Number(s);
  return s !== '' && Number.isFinite(n) ? n : s;
}

/**
 * The axolotl keys we need from a YAML file, without a YAML parser (none is a dependency): only plain
 * `key: value` lines at the top level and `path:` inside the top-level `datasets:` list are read; a
 * key we need whose value is not a plain scalar on its line (anchors, block scalars, flow maps) is an
 * error naming the key rather than a wrong value.
 */
export function readAxolotlSubset(file: string, text: string): FinetuneJob {
  const out: Record<string, unknown> = {};
  const datasets: string[] = [];
  let inDatasets = false;
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (/^\s*(#|$)/.test(line)) return;
    const top = /^([A-Za-z_][\w-]*):(.*)$/.exec(line);
    if (top) {
      const [, key, rest] = top as unknown as [string, string, string];
      inDatasets = key === 'datasets';
      if (!(AXOLOTL_KEYS as readonly string[]).includes(key)) return;
      const value = rest.trim();
      if (value === '' || /^[&*|>{[]/.test(value)) throw new JobFileError(file, key, `line ${i + 1}: only a plain value on the same line is supported`);
      out[key] = yamlScalar(value);
      return;
    }
    const p = inDatasets ? /^\s+(?:-\s+)?path:\s*(.+)$/.exec(line) : null;
    if (p) datasets.push(String(yamlScalar(p[1]!)));
  });
  if (out.base_model === undefined) throw new JobFileError(file, 'base_model', 'missing');
  const job: Record<string, unknown> = { base_model: out.base_model };
  if (out.num_epochs !== undefined) job.n_epochs = out.num_epochs;
  if (out.learning_rate !== undefined) job.learning_rate = out.learning_rate;
  if (out.lora_r !== undefined) job.lora_r = out.lora_r;
  if (out.val_set_size !== undefined) job.val_set_size = out.val_set_size;
  if (out.adapter !== undefined) job.lora = out.adapter === 'lora' || out.adapter === 'qlora';
  if (datasets[0]) job.training_file = datasets[0];
  return validate(file, job, { n_epochs: 'num_epochs', lora: 'adapter', training_file: 'datasets[0].path' });
}

/** Read and validate a job file by its extension (.json, .toml, .yml/.yaml as axolotl). */
export async function readJobFile(file: string): Promise<FinetuneJob> {
  const text = await fs.readFile(file, 'utf8');
  const ext = path.extname(file).toLowerCase();
  if (ext === '.yml' || ext === '.yaml') return readAxolotlSubset(file, text);
  let raw: unknown;
  try {
    if (ext === '.json') raw = JSON.parse(text);
    else if (ext === '.toml') {
      // smol-toml is ESM-only; a dynamic import keeps this CommonJS module loadable (as config/training.ts does).
      const { parse } = await import('smol-toml');
      raw = parse(text);
    } else throw new JobFileError(file, undefined, 'expected a .json, .toml or axolotl .yml/.yaml job file');
  } catch (e) {
    if (e instanceof JobFileError) throw e;
    throw new JobFileError(file, undefined, `cannot parse: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new JobFileError(file, undefined, 'expected an object of keys');
  return validate(file, raw as Record<string, unknown>);
}
