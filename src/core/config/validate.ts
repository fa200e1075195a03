import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parse as parseLenient } from 'jsonc-parser';
import { checkDatasetPaths } from './check-paths';
import { parseDataloaderConfig, type ParsedDataloader } from './dataloader';
import type { ConfigDiagnostic } from './diagnostics';
import { formatOf, loadTrainingConfig } from './training';

export interface FileDiagnostics { file: string; text: string; diagnostics: ConfigDiagnostic[]; parsed?: ParsedDataloader }

/**
 * Validate a dataloader config, or a training config and the dataloader config it names.
 * Used by `cloudtrain validate` and the "Validate Configs" command. `opts.training`: the options of a
 * training config naming this dataloader, when the caller knows one (its global defaults apply).
 */
export async function validateConfigFile(file: string, workspaceRoot?: string, opts: { training?: Record<string, unknown> } = {}): Promise<FileDiagnostics[]> {
  const abs = path.resolve(file);
  const text = await fs.readFile(abs, 'utf8');
  const format = formatOf(abs);
  if (!format) throw new Error(`${abs}: expected a .json dataloader config or a config.json/.toml/.env training config`);
  if (format === 'json' && !isTrainingJson(text)) return [await validateDataloaderText(text, abs, workspaceRoot, opts.training)];
  const cfg = await loadTrainingConfig(abs, workspaceRoot);
  const out: FileDiagnostics[] = [{ file: abs, text, diagnostics: [...cfg.diagnostics] }];
  // A training config SimpleTuner cannot read gets its own message(s) and nothing else.
  if (cfg.diagnostics.some((d) => d.severity === 'error')) return out;
  if (!cfg.dataloaderPath) {
    out[0]!.diagnostics.push({ severity: 'warning', code: 'no-dataloader', offset: 0, length: 1, message: 'No data_backend_config: SimpleTuner needs a dataloader config (e.g. "--data_backend_config": "config/multidatabackend.json").' });
    return out;
  }
  let dlText: string;
  try { dlText = await fs.readFile(cfg.dataloaderPath, 'utf8'); } catch {
    const key = cfg.originalKeys.data_backend_config ?? 'data_backend_config';
    const at = Math.max(0, text.indexOf(key));
    out[0]!.diagnostics.push({ severity: 'error', code: 'missing-dataloader', offset: at, length: key.length, message: `data_backend_config points to ${cfg.dataloaderPath}, which does not exist.` });
    return out;
  }
  out.push(await validateDataloaderText(dlText, cfg.dataloaderPath, workspaceRoot, cfg.values));
  return out;
}

/** `training`: the options of the training config that names this file, when known (its global defaults). */
export async function validateDataloaderText(text: string, file: string, workspaceRoot?: string, training?: Record<string, unknown>): Promise<FileDiagnostics> {
  const parsed = parseDataloaderConfig(text, file, { training });
  const diagnostics = [...parsed.diagnostics, ...(await checkDatasetPaths(parsed, workspaceRoot))].sort((a, b) => a.offset - b.offset);
  return { file, text, diagnostics, parsed };
}

/**
 * A JSON training config is an object of options; a dataloader config is a list or has "datasets".
 * Decided on a forgiving parse, so a config with a syntax error is still judged as what it is.
 */
function isTrainingJson(text: string): boolean {
  const v = parseLenient(text, [], { allowTrailingComma: true }) as unknown;
  return !!v && typeof v === 'object' && !Array.isArray(v) && !('datasets' in v);
}
