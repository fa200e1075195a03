import path from 'node:path';
import { parseArgs } from 'node:util';
import { lineColumn } from '../../core/config/diagnostics';
import { trainingOptionsFor } from '../../core/config/discover';
import { validateConfigFile } from '../../core/config/validate';
import { UsageError, type CliIO } from '../io';
import { isJsonlDataset, runValidateJsonl } from './finetune-dataset';

/**
 * `cloudtrain validate <config> [--json]` — check a dataloader config, or a training config and the
 * dataloader config it names. Prints `file:line:col: severity: message [code]`; exit 1 if any error.
 */
export async function runValidate(argv: string[], io: CliIO): Promise<number> {
  // Fine-tune datasets (`*.jsonl`) have their own checks and output; configs keep theirs unchanged.
  if (argv.some((a) => !a.startsWith('-') && isJsonlDataset(a))) return runValidateJsonl(argv, io);
  const { values, positionals } = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError('usage: cloudtrain validate <config.json|config.toml|config.env|multidatabackend.json> [--json]');
  const file = path.resolve(io.cwd, positionals[0]!);
  // A dataloader config named by a training config in the workspace is judged with that config's global options.
  const results = await validateConfigFile(file, io.cwd, { training: await trainingOptionsFor(file, io.cwd) });
  const all = results.flatMap((r) => r.diagnostics.map((d) => ({ file: r.file, ...lineColumn(r.text, d.offset), ...d })));
  const errors = all.filter((d) => d.severity === 'error').length;
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ ok: errors === 0, files: results.map((r) => r.file), diagnostics: all }, null, 2)}\n`);
  } else {
    for (const d of all) io.stdout.write(`${path.relative(io.cwd, d.file) || d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message} [${d.code}]\n`);
    const warnings = all.length - errors;
    io.stdout.write(all.length ? `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n` : `OK: ${results.map((r) => path.relative(io.cwd, r.file) || r.file).join(', ')}\n`);
  }
  return errors ? 1 : 0;
}
