import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { estimateCost } from '../../core/cost/estimate';
import { checkSpendingLimits, usd } from '../../core/cost/limits';
import { ProviderIdSchema } from '../../core/jobs/schema';
import { configKind } from '../../core/submit/config-kind';
import { trainingConfigReader } from '../../core/submit/config-reader';
import { loadCliSettings, userPricing, workspaceOf } from '../../core/submit/settings';
import { cliContext } from '../context';
import { UsageError } from '../io';
import { scoped } from '../scope';
import { runEstimateFinetune } from './finetune-dataset';
import { estimateText } from './submit';

const USAGE = 'usage: cloudtrain estimate <config> --provider P --hardware H [--steps N] [--json]';

/**
 * `cloudtrain estimate` — what a job would cost (steps × seconds/step × price, learned from your
 * history on that hardware when there is any), today's and this month's spend, and whether a
 * spending limit would block it. Exit 0 even if a limit would block (submit is what refuses).
 */
export const runEstimate = scoped(async (argv, io) => {
  // `--dataset x.jsonl`: a managed LLM fine-tune (Together/Fireworks), priced per token, not per GPU-second.
  if (argv.some((a) => a === '--dataset' || a.startsWith('--dataset='))) return runEstimateFinetune(argv, io);
  const { values, positionals } = parseArgs({
    args: argv,
    options: { provider: { type: 'string', short: 'p' }, hardware: { type: 'string' }, steps: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1) throw new UsageError(USAGE);
  const provider = ProviderIdSchema.safeParse(values.provider);
  if (!provider.success) throw new UsageError(`--provider must be one of ${ProviderIdSchema.options.join(', ')}\n${USAGE}`);
  let steps: number | undefined;
  if (values.steps !== undefined) {
    steps = Number(values.steps);
    if (!Number.isInteger(steps) || steps <= 0) throw new UsageError(`--steps must be a positive whole number, got "${values.steps}"`);
  }
  const configPath = positionals[0] ? path.resolve(io.cwd, positionals[0]) : undefined;
  if (configPath && !existsSync(configPath)) throw new UsageError(`No config file at ${configPath}`);
  const configSteps = configPath && (await configKind(configPath)) === 'training' ? (await trainingConfigReader(workspaceOf(configPath, io.cwd)).read(configPath)).maxTrainSteps : undefined;
  const { settings } = await loadCliSettings({ dataHome: io.dataHome, workspace: workspaceOf(configPath, io.cwd), env: io.env });
  const ctx = cliContext(io);
  const jobs = await ctx.history.list();
  let estimate;
  try {
    estimate = estimateCost({ provider: provider.data, hardware: values.hardware, steps, configSteps, history: jobs, pricing: userPricing(settings) });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const limits = checkSpendingLimits(settings.limits, jobs, provider.data, estimate.cost.expected);
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ estimate, spend: limits.totals, limits: { ok: limits.ok, violations: limits.violations, message: limits.message } }, null, 2)}\n`);
    return 0;
  }
  const own = limits.totals.byProvider[provider.data];
  io.stdout.write([
    estimateText(estimate),
    `Spent: ${usd(limits.totals.day)} today, ${usd(limits.totals.month)} this month${own ? ` (${provider.data}: ${usd(own.day)} today, ${usd(own.month)} this month)` : ''}`,
    limits.ok ? 'Within every spending limit.' : `Would be refused:\n${limits.message}`,
  ].join('\n') + '\n');
  return 0;
});
