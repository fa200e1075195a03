import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CloudProviderId } from '../../core/cloud/driver';
import { estimateCost } from '../../core/cost/estimate';
import { SpendingLimitError } from '../../core/cost/limits';
import { formatDuration, usd } from '../../core/format';
import type { Job } from '../../core/jobs/schema';
import { finishLease } from '../../core/leases/enforce';
import { LeaseOfferError, type LeaseEstimate } from '../../core/leases/estimate';
import { launchLeasedJob } from '../../core/leases/launch-job';
import { LeaseError } from '../../core/leases/manager';
import type { TeardownPolicy } from '../../core/leases/schema';
import type { Prompter } from '../../core/providers/types';
import { configKind } from '../../core/submit/config-kind';
import { loadCliSettings, userPricing, workspaceOf } from '../../core/submit/settings';
import type { SubmitInput } from '../../core/submit/pipeline';
import { leaseKeyDir, leaseKnownHostsFile } from '../../providers/ssh/lease-hosts';
import { cliContext } from '../context';
import { ExitCode, UsageError, type CliIO } from '../io';
import { cliLeaseManager } from '../leases';
import { inScope, signalExitCode, type ScopedIO } from '../scope';
import { runLogs } from './logs';
import { ttyPrompter } from './ssh';
import { askYesNo, parsePositiveInt, runSubmission } from './submit';

const USAGE = 'usage: cloudtrain submit --provider lambda|digitalocean|runpod --gpu <type> [--region R] [--keep | --idle <minutes>] [--config FILE] [--command "..."] [--name N] [--steps N] [--remote-dir DIR] [--key <private key>] [--yes]';

const HELP = `${USAGE}

Rents a GPU machine for this job and gives it back: estimates the whole lease (boot + sync + training +
download at the hourly price from the provider's own listing) against your spending limits, records
the lease, launches ONE machine, waits until it is active and SSH answers, then runs the job there
through the SSH provider (GPU check, incremental sync, detached run, logs, download) and follows it
to the end. Then the teardown policy applies, and a destroy is verified with the provider:

      --gpu TYPE         the provider's instance type / GPU id (Lambda gpu_1x_a10, DigitalOcean
                         gpu-h100x1-80gb, RunPod "NVIDIA RTX A6000"); an unknown type is refused with the
                         list of what is available now, with prices
      --region R         region (default: the first with capacity)
      (default)          destroy the machine when the job ends (succeeded, failed or cancelled)
      --idle N           keep it N minutes idle (a next job reuses it), then destroy
      --keep             keep it until \`cloudtrain machines destroy <lease>\`
      --key FILE         your own private key (FILE.pub beside it) instead of the generated ed25519 pair
  -y, --yes              allow the upload, and accept the new machine's host key (Lambda, RunPod: the
                         fingerprint is printed; DigitalOcean's host key is injected and verified)

Keys: LAMBDA_API_KEY, DIGITALOCEAN_TOKEN, RUNPOD_API_KEY. Ctrl-C while the machine boots applies the
policy (default: destroy, verified). Ctrl-C while following leaves the job running; the machine is
torn down per policy by the next \`cloudtrain jobs\`, \`machines\` or \`logs --follow\`, or an editor window.
`;

export function runLeasedSubmit(argv: string[], io: CliIO, over: { stdin?: NodeJS.ReadableStream & { isTTY?: boolean } } = {}): Promise<number> {
  return inScope(io, (scoped) => leasedIn(argv, scoped, over));
}

async function leasedIn(argv: string[], io: ScopedIO, over: { stdin?: NodeJS.ReadableStream & { isTTY?: boolean } }): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      provider: { type: 'string', short: 'p' }, gpu: { type: 'string' }, region: { type: 'string' },
      keep: { type: 'boolean' }, idle: { type: 'string' }, key: { type: 'string' },
      config: { type: 'string', short: 'c' }, command: { type: 'string' }, name: { type: 'string' }, steps: { type: 'string' },
      'remote-dir': { type: 'string' }, yes: { type: 'boolean', short: 'y' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { io.stdout.write(HELP); return ExitCode.ok; }
  if (positionals.length > 1) throw new UsageError(USAGE);
  const provider = values.provider as CloudProviderId;
  if (!values.gpu) throw new UsageError(`--gpu is required for a rented machine (e.g. --gpu gpu_1x_a10)\n${USAGE}`);
  if (values.keep && values.idle !== undefined) throw new UsageError('--keep and --idle contradict each other (give one, e.g. --idle 30)');
  const policy: TeardownPolicy = values.keep ? { kind: 'keep' } : values.idle !== undefined ? { kind: 'idle', minutes: parseMinutes(values.idle) } : { kind: 'destroy' };
  const steps = parsePositiveInt(values.steps, '--steps');

  const stdin = over.stdin ?? process.stdin;
  const interactive = !values.yes && Boolean(stdin.isTTY);
  const say = (l: string) => io.stderr.write(`${l}\n`);
  const ctx = cliContext(io);
  const configArg = values.config ?? positionals[0];
  const configPath = configArg ? path.resolve(io.cwd, configArg) : undefined;
  if (configPath && !existsSync(configPath)) throw new UsageError(`No config file at ${configPath}`);
  const workspace = workspaceOf(configPath, io.cwd);
  const { settings } = await loadCliSettings({ dataHome: io.dataHome, workspace, env: io.env });
  const kind = configPath ? await configKind(configPath) : undefined;
  const remoteDir = values['remote-dir']?.trim();
  const input: SubmitInput = {
    provider: 'ssh',
    trainingConfigPath: kind === 'training' ? configPath : undefined,
    dataloaderConfigPath: kind === 'dataloader' ? configPath : undefined,
    command: values.command, name: values.name, steps, workspace,
    options: remoteDir ? { remoteBaseDir: remoteDir } : undefined,
  };
  // The training time range: this user's history on this GPU, else the wide default.
  const training = estimateCost({ provider: 'ssh', hardware: values.gpu, steps, history: await ctx.history.list() }).durationSeconds;

  const { manager, drivers } = cliLeaseManager(io, ctx.history);
  const pollMs = Number(io.env.CLOUD_TRAINING_MACHINES_POLL_MS) || 5_000;
  const tty = ttyPrompter(io, stdin);
  // A rented Lambda/RunPod machine's host key cannot be known ahead: shown, accepted with --yes.
  const prompter: Prompter = values.yes
    ? { confirm: async (m, d) => { say(`${m}${d ? `\n${d}` : ''}\nAccepted by --yes (a machine rented just now).`); return true; }, secret: tty.secret }
    : tty;
  let submitCode: number = ExitCode.error;
  try {
    const outcome = await launchLeasedJob({ provider, gpu: values.gpu, region: values.region, policy, training }, {
      manager, drivers, keyDir: leaseKeyDir(io.dataHome), knownHostsFile: leaseKnownHostsFile(io.dataHome), history: ctx.history,
      limits: settings.limits, pricing: userPricing(settings), existingKey: values.key ? path.resolve(io.cwd, values.key) : undefined,
      sshUser: io.env.CLOUD_TRAINING_CLOUD_SSH_USER || undefined, pollMs, settlePollMs: pollMs, signal: io.scope.signal, report: say,
      confirmEstimate: async (e) => {
        say(leaseEstimateText(e, policy));
        return interactive ? askYesNo(io, stdin, 'Rent this machine and start the job? [Y/n] ', true) : true;
      },
      submit: async (hardware) => {
        let job: Job | undefined;
        submitCode = await runSubmission({ ...input, hardware }, {
          values: { yes: values.yes, follow: false }, io, over: { stdin, prompter }, ctx, settings, workspace, command: 'submit',
          onSubmitted: (j) => { job = j; },
        });
        if (!job) throw new LeaseError(`the job was not started on the machine (exit ${submitCode})`);
        return job;
      },
    });
    say(`Lease ${outcome.lease.id}: job ${outcome.job.id} on ${provider} ${outcome.lease.instanceId}; following it to the end (Ctrl-C stops following, the job goes on).`);
    const code = await runLogs([outcome.job.id, '--follow'], io);
    if (io.scope.interruptedBy) {
      say(`The job goes on; lease ${outcome.lease.id} is torn down per policy when it ends (seen by cloudtrain jobs/machines/logs or an editor window).`);
      return signalExitCode(io.scope.interruptedBy);
    }
    await finishLease(manager, ctx.history, outcome.lease.id, { report: say, pollMs });
    return code;
  } catch (e) {
    if (io.scope.interruptedBy) { say('cloudtrain submit: interrupted'); return signalExitCode(io.scope.interruptedBy); }
    if (e instanceof SpendingLimitError) { say(`cloudtrain submit: ${e.message}`); return ExitCode.limit; }
    if (e instanceof LeaseError || e instanceof LeaseOfferError) { say(`cloudtrain submit: ${e.message}`); return submitCode !== ExitCode.error ? submitCode : ExitCode.error; }
    if ((e as Error).name === 'AbortError') { say(`cloudtrain submit: ${(e as Error).message}`); return ExitCode.error; }
    throw e;
  }
}

function parseMinutes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(m|min|h)?$/.exec(v.trim());
  if (!m || Number(m[1]) <= 0) throw new UsageError(`--idle takes minutes, e.g. --idle 30 or --idle 30m (got "${v}")`);
  return m[2] === 'h' ? Number(m[1]) * 60 : Number(m[1]);
}

export function leaseEstimateText(e: LeaseEstimate, policy: TeardownPolicy): string {
  const s = e.seconds;
  const keep = policy.kind === 'keep' ? ' — plus every hour it is kept afterwards (--keep)' : policy.kind === 'idle' ? ` — plus up to ${policy.minutes} idle minutes (${usd(policy.minutes / 60 * e.pricePerHour)})` : '';
  return [
    `Machine: ${e.gpuLabel} (${e.provider} ${e.gpu}${e.region ? `, ${e.region}` : ''}) at ${usd(e.pricePerHour)}/h — price from ${e.priceNote}`,
    `Lease estimate: ${usd(e.cost.expected)} (range ${usd(e.cost.low)}–${usd(e.cost.high)}) for boot ${formatDuration(s.boot)} + sync ${formatDuration(s.sync)} + training ${formatDuration(s.training.expected)} (${formatDuration(s.training.low)}–${formatDuration(s.training.high)}) + download ${formatDuration(s.download)}${keep}`,
    `Billed from launch until the provider confirms the machine gone; teardown: ${policy.kind === 'destroy' ? 'destroy when the job ends' : policy.kind === 'idle' ? `after ${policy.minutes} idle minutes` : 'kept'}.`,
  ].join('\n');
}
