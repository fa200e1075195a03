import { promises as fs, constants } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatOf, loadTrainingConfig } from '../../core/config/training';
import { lineColumn } from '../../core/config/diagnostics';
import { buildPackage, packageSummary } from '../../core/packaging';
import { PackagingError } from '../../core/packaging/result';
import { dataLayout } from '../../core/paths';
import { UsageError } from '../io';
import { scoped, signalExitCode } from '../scope';

/**
 * `cloudtrain package <dataloader-or-training-config> [--out file.zip] [--exclude GLOB]... [--json]`
 * Builds (or reuses) the content-addressed package and prints its summary; Ctrl-C cancels cleanly.
 */
export const runPackage = scoped(async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { out: { type: 'string', short: 'o' }, json: { type: 'boolean' }, exclude: { type: 'string', multiple: true }, 'verify-full': { type: 'boolean' } },
  });
  if (positionals.length !== 1) throw new UsageError('usage: cloudtrain package <multidatabackend.json|config.json> [--out file.zip] [--exclude GLOB] [--json]');
  const input = path.resolve(io.cwd, positionals[0]!);
  const { dataloaderConfigPath, trainingConfigPath } = await resolveInputs(input, io.cwd);
  const layout = dataLayout(io.dataHome);

  let lastLine = '';
  try {
    const result = await buildPackage({
      dataloaderConfigPath, trainingConfigPath, workspaceRoot: io.cwd,
      outDir: path.join(layout.cacheDir, 'packages'), cacheDir: layout.cacheDir,
      extraExcludes: values.exclude ?? [], signal: io.scope.signal, verify: values['verify-full'] ? 'full' : 'structure',
      onProgress: (p) => {
        const line = `${p.stage}: ${p.message}`;
        if (line !== lastLine) io.stderr.write(`${line}\n`);
        lastLine = line;
      },
    });
    let written = result.zipPath;
    if (values.out) {
      written = path.resolve(io.cwd, values.out);
      await fs.mkdir(path.dirname(written), { recursive: true });
      // A clone where the filesystem supports it, else a copy: never a link the user could edit in place.
      await fs.copyFile(result.zipPath, written, constants.COPYFILE_FICLONE);
    }
    io.stdout.write(values.json ? `${JSON.stringify({ ...result, outPath: written }, null, 2)}\n` : packageSummary(result, written));
    return 0;
  } catch (e) {
    if (e instanceof PackagingError && e.diagnostics.length) {
      if (values.json) {
        io.stdout.write(`${JSON.stringify({ ok: false, error: e.message, diagnostics: e.diagnostics }, null, 2)}\n`);
        return 1;
      }
      for (const d of e.diagnostics) {
        const text = await fs.readFile(d.file, 'utf8').catch(() => '');
        const { line, column } = lineColumn(text, d.offset);
        io.stderr.write(`${path.relative(io.cwd, d.file)}:${line}:${column}: ${d.severity}: ${d.message} [${d.code}]\n`);
      }
    }
    if ((e as Error).name === 'AbortError') { io.stderr.write('cancelled\n'); return signalExitCode(io.scope.interruptedBy); }
    throw e;
  }
});

async function resolveInputs(input: string, cwd: string): Promise<{ dataloaderConfigPath: string; trainingConfigPath?: string }> {
  const format = formatOf(input);
  if (!format) throw new UsageError(`${input}: expected a .json, .toml or .env config`);
  if (format === 'json') {
    const v = JSON.parse(await fs.readFile(input, 'utf8')) as unknown;
    if (Array.isArray(v) || (v && typeof v === 'object' && 'datasets' in v)) return { dataloaderConfigPath: input };
  }
  const cfg = await loadTrainingConfig(input, cwd);
  if (!cfg.dataloaderPath) throw new Error(`${input} has no data_backend_config: pass the dataloader config instead`);
  return { dataloaderConfigPath: cfg.dataloaderPath, trainingConfigPath: input };
}
