import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ConfigReader, TrainingConfigInfo } from './steps';

/**
 * Reads the few keys a submission needs from a SimpleTuner training config (config.json, config.toml
 * or config.env; keys with or without `--`). Small on purpose: full validation and diagnostics live in
 * src/core/config; this only needs max_train_steps and where the dataloader config is.
 */
export const simpleConfigReader: ConfigReader = {
  async read(configPath: string): Promise<TrainingConfigInfo> {
    const text = await fs.readFile(configPath, 'utf8');
    const raw = await parseConfigText(configPath, text);
    const values = new Map<string, unknown>();
    for (const [k, v] of Object.entries(raw)) values.set(k.replace(/^--/, '').toLowerCase(), v);
    const num = (k: string) => {
      const r = z.coerce.number().positive().safeParse(values.get(k));
      return r.success ? r.data : undefined;
    };
    const str = (k: string) => {
      const v = values.get(k);
      return typeof v === 'string' && v.trim() ? v.trim() : undefined;
    };
    const backend = str('data_backend_config');
    return {
      maxTrainSteps: num('max_train_steps'),
      numTrainEpochs: num('num_train_epochs'),
      dataloaderPath: backend ? resolveRelative(configPath, backend) : undefined,
      outputDir: str('output_dir'),
    };
  },
};

async function parseConfigText(file: string, text: string): Promise<Record<string, unknown>> {
  const ext = path.extname(file).toLowerCase();
  let parsed: unknown;
  if (ext === '.toml') {
    const { parse } = await import('smol-toml');
    parsed = parse(text);
  } else if (ext === '.env' || path.basename(file) === 'config.env') {
    parsed = parseEnv(text);
  } else {
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const r = z.record(z.string(), z.unknown()).safeParse(parsed);
  if (!r.success) throw new Error(`${file} should hold an object of settings`);
  return r.data;
}

/** config.env holds `TRAINER_EXTRA_ARGS`-style lines or KEY=value pairs; we only need `--key=value`/`--key value` pairs. */
function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/--([a-z0-9_]+)[= ]("[^"]*"|'[^']*'|[^\s"']+)/gi)) out[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
  for (const m of text.matchAll(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)/gm)) out[m[1]!.toLowerCase()] ??= m[2]!.replace(/^["']|["']$/g, '');
  return out;
}

/** SimpleTuner resolves paths from the folder it runs in (the project root, above config/); fall back to the config's folder. */
export function resolveRelative(configPath: string, p: string): string {
  if (path.isAbsolute(p)) return p;
  const configDir = path.dirname(path.resolve(configPath));
  const candidates = [path.resolve(path.dirname(configDir), p), path.resolve(configDir, p)];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}
