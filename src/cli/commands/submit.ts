import { createInterface } from 'node:readline/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConsentMemory } from '../../core/consent/memory';
import { ConsentRefusedError, type ConsentAnswer } from '../../core/consent/policy';
import { consentSummaryText, type ConsentSummary } from '../../core/consent/summary';
import { whereText, type CostEstimate } from '../../core/cost/estimate';
import { SpendingLimitError, usd } from '../../core/cost/limits';
import { ProviderIdSchema } from '../../core/jobs/schema';
import { configKind } from '../../core/submit/config-kind';
import { trainingConfigReader } from '../../core/submit/config-reader';
import { defaultPackager } from '../../core/submit/packager';
import { submitBatch, type SubmitInput } from '../../core/submit/pipeline';
import { queuePosition } from '../../core/queue/queue';
import { isLocallyQueued } from '../../core/queue/schema';
import { loadCliSettings, userPricing, workspaceOf } from '../../core/submit/settings';
import { SubmitError, STEP_LABELS, type Packager, type SubmitStep } from '../../core/submit/steps';
import type { ProviderRegistry } from '../../core/providers/registry';
import { cliContext } from '../context';
import { formatDuration } from '../../core/format';
import { ExitCode, UsageError, type CliIO } from '../io';
import { inScope, signalExitCode, type ScopedIO } from '../scope';
import { runLogs } from './logs';
import { ttyPrompter } from './ssh';
import { RESULTS_HELP, RESULTS_OPTIONS, RESULTS_USAGE, parseResultsFlags } from '../results';
import { SLURM_HELP, SLURM_OPTIONS, SLURM_USAGE, parseLauncherFlag, parseSlurmFlags } from '../slurm-flags';
import { REPLICATE_HELP, REPLICATE_OPTIONS, REPLICATE_USAGE, dataSecretLookup, parseReplicateFlags } from '../replicate-flags';
import { recordJobSnapshot } from '../../core/snapshots/record';
import { finetuneProviderIn } from '../finetune-flags';
import { submitFinetuneIn } from './submit-finetune';
import type { Job } from '../../core/jobs/schema';
import type { Prompter } from '../../core/providers/types';

const VISIBLE_STEPS = new Set<SubmitStep>(['config', 'package', 'submit']);
const USAGE = `usage: cloudtrain submit --provider P [--hardware H] [--config <training config or dataloader>]... [--priority N] [--after JOB] [--capacity N] [--command "..."] [--cwd DIR] [--name N] [--steps N] [--remote-dir DIR] ${SLURM_USAGE} ${REPLICATE_USAGE} ${RESULTS_USAGE} [--snapshot | --no-snapshot] [--yes] [--follow] [--json]`;

const HELP = `${USAGE}

Packages the datasets (providers that upload), asks for upload consent, estimates the cost, checks the
spending limits, starts the job and prints its id.

  -p, --provider P       local | replicate | ssh | slurm; together | fireworks for LLM fine-tunes from a
                         JSONL dataset (see cloudtrain submit --provider together --help); lambda |
                         digitalocean | runpod rent a GPU machine for the job (see --provider lambda --help)
      --hardware H       provider hardware (Replicate profile, SSH host, Slurm <host>[/<partition>])
  -c, --config FILE      training config (config/config.json, .toml, .env) or dataloader config;
                         give it several times to submit a batch to one target, queued in that order
                         (consent and cost asked once, the batch total checked against the limits)
      --priority N       local/SSH queue: higher starts first (default 0), then submission time
      --after JOB        local/SSH: start only once job JOB has succeeded; its failure or
                         cancellation cancels this one ("predecessor JOB failed")
      --capacity N       local/SSH: start while fewer than N jobs run on the target (default: the
                         settings cloudTraining.local.capacity / ssh.hostCapacity(-ies), else its GPU count, else 1)
      --command "..."    training command (local/SSH/Slurm); {config} {dataloader} {output_dir} {job_id} are filled in
      --cwd DIR          working folder of a local job
      --name N           job name
      --steps N          steps for the cost estimate (default: the config's max_train_steps)
      --remote-dir DIR   SSH: folder on the host for the synced datasets and job folders
                         (default ~/cloud-training; e.g. /data/cloud-training on a large disk)
      --snapshot         once the job is accepted, record its configs as a git commit under
                         refs/cloud-training/<job id> (your working tree, index and branch are not touched)
                         and store the ref on the job; default: the setting cloudTraining.snapshots.enabled
      --no-snapshot      do not record a snapshot even when the setting is on
  -y, --yes              allow the upload without asking
  -f, --follow           stream the log until the job ends; exit 0 only if it succeeded
      --json             print the job and the estimate as JSON

${SLURM_HELP}

${REPLICATE_HELP}

${RESULTS_HELP}
  Local/SSH/Slurm: once the job has succeeded and its outputs are on this machine, they are pushed there;
  a failed push is recorded on the job (the local outputs stay) and retried with \`cloudtrain deliver <id>\`.
  Replicate: the trainer publishes them itself (local needs the editor's endpoint, so it is refused here).

Example: cloudtrain submit --provider slurm --hardware login.cluster/gpu --config config/config.json --nodes 2 --gpus-per-node 4 --mem 128G --time 12:00:00 --yes
Example: cloudtrain submit --provider local --config config/config.json --results s3://my-bucket/loras --results-endpoint http://127.0.0.1:9000/api/cloud/storage --yes --follow
`;

/**
 * `cloudtrain submit` — the same pipeline as the editor's Submit… command. Asks for upload consent on
 * the terminal unless --yes (or the policy is allow); exit 3 when a spending limit blocks the job,
 * 2 for bad usage, 1 for other failures. Prints the job id. With --follow, streams the log until the
 * job ends and exits 0 only if it succeeded.
 */
export async function runSubmit(argv: string[], io: CliIO): Promise<number> {
  // A rented GPU machine (Lambda, DigitalOcean, RunPod): launched, used through the SSH provider, torn down.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (isLeasedSubmit(argv)) return (require('./submit-leased') as typeof import('./submit-leased')).runLeasedSubmit(argv, io);
  return submitCommand(argv, io);
}

/** For tests: the same command with another provider registry (a paid test provider). */
export function submitCommand(argv: string[], io: CliIO, over: SubmitOver = {}): Promise<number> {
  // Managed LLM fine-tunes (a JSONL dataset, no training config) have their own flags and pipeline.
  const finetune = finetuneProviderIn(argv);
  return inScope(io, (scoped) => (finetune ? submitFinetuneIn(argv, scoped, over, finetune) : submitIn(argv, scoped, over)));
}

async function submitIn(argv: string[], io: ScopedIO, over: SubmitOver): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      provider: { type: 'string', short: 'p' },
      hardware: { type: 'string' },
      config: { type: 'string', short: 'c', multiple: true },
      priority: { type: 'string' },
      after: { type: 'string' },
      capacity: { type: 'string' },
      command: { type: 'string' },
      cwd: { type: 'string' },
      name: { type: 'string' },
      steps: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      follow: { type: 'boolean', short: 'f' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      snapshot: { type: 'boolean' },
      'no-snapshot': { type: 'boolean' },
      'remote-dir': { type: 'string' },
      ...SLURM_OPTIONS,
      ...REPLICATE_OPTIONS,
      ...RESULTS_OPTIONS,
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  if (positionals.length > 1) throw new UsageError(USAGE);
  const configArgs = values.config?.length ? values.config : positionals.length ? [positionals[0]!] : [];
  const provider = ProviderIdSchema.safeParse(values.provider);
  if (!provider.success) throw new UsageError(`--provider must be one of ${ProviderIdSchema.options.join(', ')}\n${USAGE}`);
  const steps = parsePositiveInt(values.steps, '--steps');
  const results = parseResultsFlags(values);
  const resources = parseSlurmFlags(values, provider.data);
  const launcher = parseLauncherFlag(values.launcher, provider.data);
  const replicate = parseReplicateFlags(values, provider.data, values.hardware);
  if (replicate?.hubModelId && results) throw new UsageError('--hub-model-id and --results both say where results go: give one (e.g. --results hf:me/my-lora)');
  if (values.snapshot && values['no-snapshot']) throw new UsageError('--snapshot and --no-snapshot contradict each other (give one, e.g. --snapshot)');
  const remoteDir = values['remote-dir']?.trim();
  if (values['remote-dir'] !== undefined && (!remoteDir || provider.data !== 'ssh')) {
    throw new UsageError(provider.data !== 'ssh' ? '--remote-dir is for --provider ssh (a folder on the SSH host)' : '--remote-dir needs a folder, e.g. --remote-dir /data/cloud-training');
  }
  if (results?.kind === 'local' && provider.data === 'replicate') {
    throw new UsageError('--results local: Replicate would upload to the editor\'s local endpoint, which the CLI cannot hand out (use hf:<owner/repo> or s3://<bucket>/<prefix>, e.g. --results s3://my-bucket/loras)');
  }

  const queued = provider.data === 'local' || provider.data === 'ssh';
  const priority = parseInteger(values.priority, '--priority');
  const capacity = parsePositiveInt(values.capacity, '--capacity');
  if (!queued && (priority !== undefined || values.after !== undefined || capacity !== undefined)) {
    throw new UsageError(`--priority, --after and --capacity are for the queue of this machine or an SSH host (--provider local|ssh); ${provider.data} queues jobs on its side`);
  }
  if (configArgs.length > 1 && values.name !== undefined) throw new UsageError('--name names one job: leave it out when submitting several configs (each job is named after its config)');

  const ctx = cliContext(io, { secrets: dataSecretLookup(values, io.env) });
  const after = values.after !== undefined ? (await ctx.history.resolve(values.after)).id : undefined;
  const configPaths = configArgs.map((c) => path.resolve(io.cwd, c));
  for (const c of configPaths) if (!existsSync(c)) throw new UsageError(`No config file at ${c}`);
  const configPath = configPaths[0];
  const workspace = workspaceOf(configPath, io.cwd);
  const { settings } = await loadCliSettings({ dataHome: io.dataHome, workspace, env: io.env });
  const inputs: SubmitInput[] = [];
  for (const configPath of configPaths.length ? configPaths : [undefined]) {
    const kind = configPath ? await configKind(configPath) : undefined;
    inputs.push({
      provider: provider.data,
      hardware: values.hardware,
      trainingConfigPath: kind === 'training' ? configPath : undefined,
      dataloaderConfigPath: kind === 'dataloader' ? configPath : undefined,
      command: values.command ?? (provider.data === 'local' ? settings.local.command : undefined),
      cwd: values.cwd ? path.resolve(io.cwd, values.cwd) : undefined,
      name: values.name,
      steps,
      workspace,
      // Only non-secret fields: the keys/tokens are looked up in the environment when they are needed.
      options: results || resources || remoteDir || launcher || replicate
        ? { ...(replicate ?? {}), ...(results ? { results } : {}), ...(resources ? { resources } : {}), ...(remoteDir ? { remoteBaseDir: remoteDir } : {}), ...(launcher ? { launcher } : {}) }
        : undefined,
      ...(queued ? { queue: { priority, after, capacity } } : {}),
    });
  }

  return runSubmission(inputs.length === 1 ? inputs[0]! : inputs, { values, io, over, ctx, settings, workspace, command: 'submit' });
}

type SubmitFlags = { yes?: boolean; follow?: boolean; json?: boolean; snapshot?: boolean; 'no-snapshot'?: boolean };
export type SubmitOver = { providers?: ProviderRegistry; packager?: Packager; stdin?: NodeJS.ReadableStream & { isTTY?: boolean }; prompter?: Prompter };

/** The pipeline run shared by `submit` and `resubmit`: consent and cost on the terminal, snapshot, --follow. */
export async function runSubmission(input: SubmitInput | SubmitInput[], o: {
  values: SubmitFlags; io: ScopedIO; over: SubmitOver; ctx: ReturnType<typeof cliContext>;
  settings: Awaited<ReturnType<typeof loadCliSettings>>['settings']; workspace: string; command: string;
  /** Told the accepted job (the leased submit goes on with it). */
  onSubmitted?: (job: Job) => void;
}): Promise<number> {
  const { values, io, over, ctx, settings, workspace } = o;
  const stdin = over.stdin ?? process.stdin;
  const interactive = !values.yes && Boolean(stdin.isTTY);
  const say = (line: string) => io.stderr.write(`${line}\n`);
  let lastStep = '';
  try {
    const outcomes = await submitBatch(Array.isArray(input) ? input : [input], {
      history: ctx.history,
      layout: ctx.layout,
      providers: over.providers ?? ctx.providers,
      config: trainingConfigReader(workspace),
      packager: over.packager ?? defaultPackager({ workspaceRoot: workspace, extraExcludes: settings.packaging.extraExcludes }),
      consent: {
        policy: settings.uploadConsent,
        memory: new ConsentMemory(io.dataHome),
        ask: (summary) => askConsentOnTerminal(summary, { yes: Boolean(values.yes), interactive, io, stdin }),
      },
      limits: settings.limits,
      pricing: userPricing(settings),
      // Unknown SSH host keys and key passphrases are asked on the terminal.
      prompter: over.prompter ?? ttyPrompter(io, stdin),
      confirmCost: async (estimate) => {
        say(estimateText(estimate));
        if (!interactive || estimate.cost.high === 0) return true;
        return askYesNo(io, stdin, 'Start this job? [Y/n] ', true);
      },
      onStep: (step, message, fraction) => {
        // Only the steps that take time or ask something are worth a line on the terminal.
        if (values.json || (!message && !VISIBLE_STEPS.has(step))) return;
        const line = message ? `  ${message}${fraction !== undefined ? ` (${Math.round(fraction * 100)}%)` : ''}` : `… ${STEP_LABELS[step]}`;
        if (line !== lastStep) say(line);
        lastStep = line;
      },
      log: say,
      // Local and SSH targets: a job for a full target waits in this machine's queue.
      queue: { capacity: ctx.capacity },
    }, io.scope.signal); // Ctrl-C cancels the submission (the scope closes what it opened)
    const jobs: Job[] = [];
    const snapshot = values.snapshot || (!values['no-snapshot'] && settings.snapshots.enabled);
    for (const outcome of outcomes) {
      let job = outcome.job;
      if (snapshot) job = await recordSnapshot(ctx.history, job, workspace, say, Boolean(values.json));
      o.onSubmitted?.(job);
      jobs.push(job);
    }
    const all = await ctx.history.list();
    if (values.json) {
      const out = outcomes.map((o, i) => ({ job: jobs[i]!, estimate: o.estimate, ...(isLocallyQueued(jobs[i]!) ? { queuePosition: queuePosition(jobs[i]!, all) } : {}) }));
      io.stdout.write(`${JSON.stringify(Array.isArray(input) ? out : out[0], null, 2)}\n`);
    } else {
      for (const job of jobs) {
        const pos = queuePosition(job, all);
        say(`Submitted ${job.name} to ${job.provider}${job.hardware ? ` (${job.hardware})` : ''}: ${pos !== undefined ? `queued, position ${pos} (${job.statusDetail ?? 'waiting'})` : job.status}`);
        io.stdout.write(`${job.id}\n`);
      }
    }
    if (!values.follow) return ExitCode.ok;
    let code: number = ExitCode.ok;
    for (const job of jobs) {
      const c = await runLogs([job.id, '--follow'], io);
      if (io.scope.interruptedBy) return c;
      if (c !== ExitCode.ok) code = c;
    }
    return code;
  } catch (e) {
    const submitted = (e as { submitted?: Job[] }).submitted;
    if (submitted?.length) {
      say(`cloudtrain ${o.command}: ${submitted.length} job(s) of the batch were submitted before the failure:`);
      for (const j of submitted) io.stdout.write(`${j.id}\n`);
    }
    // Ctrl-C anywhere (a prompt, an upload, a connection): the shell's code, whatever error it caused.
    if (io.scope.interruptedBy) {
      say(`cloudtrain ${o.command}: interrupted`);
      return signalExitCode(io.scope.interruptedBy);
    }
    if (e instanceof SpendingLimitError) {
      say(`cloudtrain ${o.command}: ${e.message}`);
      return ExitCode.limit;
    }
    if (e instanceof SubmitError) {
      const cause = e.cause;
      if (cause instanceof SpendingLimitError) { say(`cloudtrain ${o.command}: ${cause.message}`); return ExitCode.limit; }
      if (cause instanceof ConsentRefusedError) { say(`cloudtrain ${o.command}: ${cause.message}`); return ExitCode.error; }
      say(`cloudtrain ${o.command}: ${e.message}`);
      return e.cancelled ? signalExitCode(io.scope.interruptedBy) : ExitCode.error;
    }
    throw e;
  }
}

/**
 * After the job is accepted: record its configs under refs/cloud-training/<job> and store the ref on
 * the job, as the editor's Submit does. Never fails the submission: a workspace outside git or a git
 * error is one warning line on stderr.
 */
async function recordSnapshot(history: ReturnType<typeof cliContext>['history'], job: Job, workspace: string, say: (l: string) => void, quiet: boolean): Promise<Job> {
  const r = await recordJobSnapshot(history, job, { cwd: job.workspace ?? workspace });
  if (r.kind === 'recorded') {
    if (!quiet) say(`Config snapshot: ${r.ref} (${r.commit.slice(0, 12)})`);
    return r.job;
  }
  say(r.kind === 'skipped'
    ? `warning: no config snapshot: ${r.message}`
    : `warning: config snapshot failed: ${r.message}`);
  return job;
}

function parseInteger(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`${flag} must be a whole number, got "${v}"`);
  return n;
}

const LEASED_PROVIDERS = new Set(['lambda', 'digitalocean', 'runpod']);
function isLeasedSubmit(argv: string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === '--provider' || a === '-p') && LEASED_PROVIDERS.has(argv[i + 1] ?? '')) return true;
    if (a.startsWith('--provider=') && LEASED_PROVIDERS.has(a.slice('--provider='.length))) return true;
  }
  return false;
}

export function parsePositiveInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, got "${v}"`);
  return n;
}

export async function askConsentOnTerminal(summary: ConsentSummary, o: { yes: boolean; interactive: boolean; io: ScopedIO; stdin: NodeJS.ReadableStream }): Promise<ConsentAnswer> {
  o.io.stderr.write(`${consentSummaryText(summary)}\n`);
  if (o.yes) {
    o.io.stderr.write('Upload allowed by --yes.\n');
    return 'once';
  }
  if (!o.interactive) {
    throw new Error('Upload consent is needed and there is no terminal to ask: pass --yes, or set cloudTraining.uploadConsent to "allow"');
  }
  const rl = terminalQuestions(o.io, o.stdin);
  try {
    const a = (await rl.question('Upload? [o]nce / [a]lways for this workspace / [N]o: ', { signal: o.io.scope.signal })).trim().toLowerCase();
    return a === 'o' || a === 'once' || a === 'y' || a === 'yes' ? 'once' : a === 'a' || a === 'always' ? 'always' : 'cancel';
  } finally {
    rl.close();
  }
}

export async function askYesNo(io: ScopedIO, stdin: NodeJS.ReadableStream, question: string, dflt: boolean): Promise<boolean> {
  const rl = terminalQuestions(io, stdin);
  try {
    const a = (await rl.question(question, { signal: io.scope.signal })).trim().toLowerCase();
    return a ? a === 'y' || a === 'yes' : dflt;
  } finally {
    rl.close();
  }
}

/**
 * A readline on the terminal. It reads Ctrl-C as a key (raw mode: no SIGINT reaches the process) and
 * would only close itself; handed to the scope, it ends the whole invocation as Ctrl-C should (130).
 */
function terminalQuestions(io: ScopedIO, stdin: NodeJS.ReadableStream) {
  const rl = createInterface({ input: stdin, output: io.stderr });
  rl.on('SIGINT', () => io.scope.interrupt('SIGINT'));
  return rl;
}

/** Human-readable estimate, shared with `cloudtrain estimate`. */
export function estimateText(e: CostEstimate): string {
  const d = e.durationSeconds;
  return [
    `Hardware: ${e.hardwareLabel} (${whereText(e.provider, e.hardware)}) at ${usd(e.pricePerHour)}/h (prices checked ${e.priceCheckedAt})`,
    `Estimate: ${usd(e.cost.expected)} (range ${usd(e.cost.low)}–${usd(e.cost.high)}) for ${e.steps} steps, ${formatDuration(d.expected)} (${formatDuration(d.low)}–${formatDuration(d.high)})`,
    `Basis: ${e.basisText}`,
  ].join('\n');
}
