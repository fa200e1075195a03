import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { finetuneCost } from '../../core/finetune/cost';
import { modelInfo } from '../../core/finetune/models';
import { tokenCounterFor } from '../../core/finetune/tokenizers';
import { countDatasetTokens, type DatasetTokens } from '../../core/finetune/tokens';
import { validateDataset } from '../../core/finetune/validate';
import { checkSpendingLimits, usd } from '../../core/cost/limits';
import { loadCliSettings, userPricing } from '../../core/submit/settings';
import { cliContext } from '../context';
import { UsageError, type CliIO } from '../io';
import type { ScopedIO } from '../scope';

/** `.jsonl` datasets go to the fine-tune dataset checks; everything else stays a training/dataloader config. */
export const isJsonlDataset = (file: string | undefined): boolean => !!file && /\.jsonl$/i.test(file);

const VALIDATE_USAGE = 'usage: cloudtrain validate <dataset.jsonl> [--model M] [--context-length N] [--json]';
const ESTIMATE_USAGE = 'usage: cloudtrain estimate --dataset <train.jsonl> --provider together|fireworks --model M [--epochs N] [--validation <val.jsonl> --evals N] [--method sft|dpo] [--full] [--json]';

const grouped = (n: number) => n.toLocaleString('en-US');
const millions = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : grouped(n));

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, got "${v}"`);
  return n;
}

function datasetPath(io: CliIO, p: string): string {
  const abs = path.resolve(io.cwd, p);
  if (!existsSync(abs)) throw new UsageError(`No dataset file at ${abs}`);
  return abs;
}

async function tokensOf(file: string, model: string | undefined, contextLength: number | undefined): Promise<DatasetTokens> {
  return countDatasetTokens(file, tokenCounterFor(model), { contextLength: contextLength ?? (model ? modelInfo(model).contextLength : undefined) });
}

/**
 * `cloudtrain validate data/train.jsonl` — stream a fine-tune dataset and report every problem as
 * `file:line:col: error: message [code]` (capped), then examples, format and, with `--model`, tokens
 * (exact with a shipped tokenizer, else marked as an estimate) and examples longer than the context.
 */
export async function runValidateJsonl(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, model: { type: 'string' }, 'context-length': { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError(VALIDATE_USAGE);
  const file = datasetPath(io, positionals[0]!);
  const contextLength = positiveInt('--context-length', values['context-length']);
  const v = await validateDataset(file);
  const t = values.model || contextLength ? await tokensOf(file, values.model, contextLength) : undefined;
  const diagnostics = [...v.diagnostics, ...(t?.diagnostics ?? [])].sort((a, b) => a.line - b.line);
  const errors = v.errors + (t ? t.diagnostics.length + t.diagnosticsOmitted : 0);
  const omitted = v.diagnosticsOmitted + (t?.diagnosticsOmitted ?? 0);
  const rel = path.relative(io.cwd, file) || file;
  if (values.json) {
    io.stdout.write(`${JSON.stringify({
      ok: errors === 0, file, format: v.format ?? null, examples: v.examples, lines: v.lines, bytes: v.bytes, errors,
      diagnostics: diagnostics.map((d) => ({ file, ...d })), diagnosticsOmitted: omitted,
      tokens: t ? { total: t.tokens, exact: t.exact, method: t.method, maxExample: t.maxExampleTokens } : null,
    }, null, 2)}\n`);
    return errors ? 1 : 0;
  }
  for (const d of diagnostics) io.stdout.write(`${rel}:${d.line}:${d.column ?? 1}: ${d.severity}: ${d.message} [${d.code}]\n`);
  if (omitted) io.stdout.write(`… and ${grouped(omitted)} more problem${omitted === 1 ? '' : 's'} not shown\n`);
  const parts = [`${grouped(v.examples)} example${v.examples === 1 ? '' : 's'}`, `${v.format ?? 'unknown'} format`];
  if (t) parts.push(`${millions(t.tokens)} tokens${t.exact ? '' : ' (estimate)'}`);
  io.stdout.write(`${errors ? `${grouped(errors)} error${errors === 1 ? '' : 's'}` : `OK: ${rel}`} · ${parts.join(' · ')}\n`);
  if (t) io.stdout.write(`Tokens: ${t.method}; longest example ${grouped(t.maxExampleTokens)}\n`);
  return errors ? 1 : 0;
}

/**
 * `cloudtrain estimate --dataset data/train.jsonl --provider together|fireworks --model …` — tokens and
 * the fine-tuning cost from the dated price table, with the assumptions behind the figure.
 */
export async function runEstimateFinetune(argv: string[], io: ScopedIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      dataset: { type: 'string' }, provider: { type: 'string', short: 'p' }, model: { type: 'string' }, epochs: { type: 'string' },
      validation: { type: 'string' }, evals: { type: 'string' }, method: { type: 'string' }, full: { type: 'boolean' }, json: { type: 'boolean' },
    },
    allowPositionals: false,
    strict: true,
  });
  void positionals;
  if (!values.dataset || !values.model) throw new UsageError(ESTIMATE_USAGE);
  if (values.provider !== 'together' && values.provider !== 'fireworks') throw new UsageError(`--provider must be together or fireworks with --dataset\n${ESTIMATE_USAGE}`);
  if (values.method !== undefined && values.method !== 'sft' && values.method !== 'dpo') throw new UsageError(`--method must be sft or dpo, got "${values.method}"`);
  const epochs = positiveInt('--epochs', values.epochs) ?? 1;
  const evals = values.evals === undefined ? 0 : Number(values.evals);
  if (!Number.isInteger(evals) || evals < 0) throw new UsageError(`--evals must be a whole number, got "${values.evals}"`);
  const train = await tokensOf(datasetPath(io, values.dataset), values.model, undefined);
  const val = values.validation ? await tokensOf(datasetPath(io, values.validation), values.model, undefined) : undefined;
  const cost = finetuneCost({
    provider: values.provider, model: values.model, method: (values.method ?? 'sft') as 'sft' | 'dpo', lora: !values.full,
    trainingTokens: train.tokens, tokensEstimated: !train.exact, epochs, validationTokens: val?.tokens ?? 0, evaluations: evals,
  });
  // The same check submit makes (exit 0 here: submit is what refuses). An unknown price adds nothing.
  const { settings } = await loadCliSettings({ dataHome: io.dataHome, workspace: io.cwd, env: io.env });
  const limits = checkSpendingLimits(settings.limits, await cliContext(io).history.list(), values.provider, cost.cost ?? 0, undefined, userPricing(settings));
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ tokens: { training: train.tokens, validation: val?.tokens ?? 0, exact: train.exact, method: train.method, examples: train.examples }, cost, limits: { ok: limits.ok, violations: limits.violations, message: limits.message } }, null, 2)}\n`);
    return 0;
  }
  io.stdout.write([
    `Dataset: ${grouped(train.examples)} examples · ${millions(train.tokens)} tokens${train.exact ? '' : ' (estimate)'} — ${train.method}`,
    ...(val ? [`Validation: ${millions(val.tokens)} tokens × ${evals} evaluation${evals === 1 ? '' : 's'}`] : []),
    `Billed tokens: ${millions(cost.billedTokens)} (${epochs} epoch${epochs === 1 ? '' : 's'})`,
    cost.cost === null
      ? `Cost: unknown — no published ${cost.rateKey} price for ${cost.band ?? 'this model size'} on ${cost.provider} in our table`
      : `Cost: $${cost.cost.toFixed(2)} at $${cost.pricePerMillion}/1M tokens (${cost.band}, ${cost.rateKey})`,
    `Prices checked ${cost.checkedAt}: ${cost.source}`,
    ...cost.assumptions.map((a) => `  · ${a}`),
    `Spent: ${usd(limits.totals.day)} today, ${usd(limits.totals.month)} this month`,
    limits.ok ? (cost.cost === null ? 'Spending limits: the unknown cost cannot be counted against them.' : 'Within every spending limit.') : `Would be refused:\n${limits.message}`,
  ].join('\n') + '\n');
  return 0;
}
