import { parseArgs } from 'node:util';
import { ConsentMemory } from '../../core/consent/memory';
import { ConsentRefusedError } from '../../core/consent/policy';
import { SpendingLimitError } from '../../core/cost/limits';
import { DatasetInvalidError, finetunePlanText } from '../../core/finetune/plan';
import { submitFinetune, type FinetuneSubmitInput } from '../../core/finetune/submit';
import { loadCliSettings, userPricing } from '../../core/submit/settings';
import { SubmitError, STEP_LABELS } from '../../core/submit/steps';
import { cliContext } from '../context';
import { ExitCode, UsageError } from '../io';
import { signalExitCode, type ScopedIO } from '../scope';
import { FINETUNE_HELP, FINETUNE_OPTIONS, FINETUNE_USAGE, parseFinetuneFlags } from '../finetune-flags';
import { runLogs } from './logs';
import { askConsentOnTerminal, askYesNo, type SubmitOver } from './submit';

/**
 * `cloudtrain submit --provider together|fireworks …` — the managed fine-tune path: the plan (validation,
 * tokens, cost) on stderr, consent (the files that leave the machine), spending limits, upload and start.
 * Exit codes as every submit: 0 ok, 1 failure, 2 usage, 3 spending limit, 130 interrupted.
 */
export async function submitFinetuneIn(argv: string[], io: ScopedIO, over: SubmitOver, provider: 'together' | 'fireworks'): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      provider: { type: 'string', short: 'p' },
      name: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      follow: { type: 'boolean', short: 'f' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...FINETUNE_OPTIONS,
    },
    allowPositionals: false,
    strict: true,
  });
  if (values.help) { io.stdout.write(FINETUNE_HELP); return ExitCode.ok; }
  const options = parseFinetuneFlags(values, provider, io.cwd);
  const input: FinetuneSubmitInput = {
    provider, options, workspace: io.cwd,
    name: values.name,
    accountId: provider === 'fireworks' ? io.env.FIREWORKS_ACCOUNT_ID : undefined,
  };
  return runFinetuneSubmission(input, { values: { yes: values.yes === true, follow: values.follow === true, json: values.json === true }, io, over, command: 'submit' });
}

/** The fine-tune pipeline run shared by `submit` and `resubmit`: plan and consent on the terminal, --follow. */
export async function runFinetuneSubmission(input: FinetuneSubmitInput, o: {
  values: { yes?: boolean; follow?: boolean; json?: boolean }; io: ScopedIO; over: SubmitOver; command: string;
}): Promise<number> {
  const { values, io, over } = o;
  const ctx = cliContext(io);
  const { settings } = await loadCliSettings({ dataHome: io.dataHome, workspace: input.workspace, env: io.env });
  const stdin = over.stdin ?? process.stdin;
  const yes = Boolean(values.yes);
  const interactive = !yes && Boolean(stdin.isTTY);
  const say = (line: string) => io.stderr.write(`${line}\n`);
  let lastLine = '';
  try {
    const outcome = await submitFinetune(input, {
      history: ctx.history,
      layout: ctx.layout,
      providers: over.providers ?? ctx.providers,
      consent: {
        policy: settings.uploadConsent,
        memory: new ConsentMemory(io.dataHome),
        // The plan text lists the files, sizes, line counts and destination; the same facts as the consent summary.
        ask: (summary) => askConsentOnTerminal(summary, { yes, interactive, io, stdin }),
      },
      limits: settings.limits,
      pricing: userPricing(settings),
      // Before consent: the files that leave the machine, sizes, line counts, tokens, destination, cost.
      onPlan: (plan) => { if (!values.json || !yes) say(finetunePlanText(plan)); },
      confirmCost: async (plan) => {
        if (!interactive || plan.cost.cost === 0) return true;
        return askYesNo(io, stdin, 'Start this fine-tune? [Y/n] ', true);
      },
      onStep: (step, message, fraction) => {
        if (values.json) return;
        if (!message && step !== 'config' && step !== 'submit') return;
        const line = message ? `  ${message}${fraction !== undefined ? ` (${Math.round(fraction * 100)}%)` : ''}` : `… ${STEP_LABELS[step]}`;
        // Progress lines every few percent only: a 2 GB upload must not print a line per chunk.
        if (line !== lastLine && (fraction === undefined || Math.round(fraction * 100) % 10 === 0)) say(line);
        lastLine = line;
      },
      log: say,
    }, io.scope.signal);
    const job = outcome.job;
    if (values.json) io.stdout.write(`${JSON.stringify({ job, plan: outcome.plan }, null, 2)}\n`);
    else {
      say(`Submitted ${job.name} to ${job.provider} (${job.providerJobId}): ${job.status}`);
      io.stdout.write(`${job.id}\n`);
    }
    if (!values.follow) return ExitCode.ok;
    return await runLogs([job.id, '--follow'], io);
  } catch (e) {
    if (io.scope.interruptedBy) { say(`cloudtrain ${o.command}: interrupted`); return signalExitCode(io.scope.interruptedBy); }
    const cause = e instanceof SubmitError ? e.cause : e;
    if (cause instanceof SpendingLimitError) { say(`cloudtrain ${o.command}: ${cause.message}`); return ExitCode.limit; }
    if (cause instanceof DatasetInvalidError || cause instanceof ConsentRefusedError) { say(`cloudtrain ${o.command}: ${(cause as Error).message}`); return ExitCode.error; }
    if (e instanceof SubmitError) { say(`cloudtrain ${o.command}: ${e.message}`); return e.cancelled ? signalExitCode(io.scope.interruptedBy) : ExitCode.error; }
    if (e instanceof UsageError) throw new UsageError(`${e.message}\n${FINETUNE_USAGE}`);
    throw e;
  }
}
