import { defaultDataHome } from '../core/paths';
import { ExitCode, UsageError, type CliIO } from './io';
import { inScope, signalExitCode } from './scope';
import { runCancel } from './commands/cancel';
import { runDeliver } from './commands/deliver';
import { runDelete } from './commands/delete';
import { runJobs } from './commands/jobs';
import { runLogs } from './commands/logs';
import { runEstimate } from './commands/estimate';
import { runSubmit } from './commands/submit';
import { runResubmit } from './commands/resubmit';
import { runServe } from './commands/serve';
import { runSsh } from './commands/ssh';
import { runValidate } from './commands/validate';
import { runPackage } from './commands/package';
import { runMachines } from './commands/machines';

type Command = (argv: string[], io: CliIO) => Promise<number>;

/** Every subcommand; each lives in commands/<name>.ts and shares the core with the extension. */
const COMMANDS: Record<string, { run: Command; summary: string }> = {
  submit: { run: runSubmit, summary: 'package, check consent and cost, and start (or queue) a job (--provider local|replicate|ssh|slurm|together|fireworks|lambda|digitalocean|runpod, --config … more than once, --priority, --after, --results …; --help)' },
  resubmit: { run: runResubmit, summary: 'submit a job again; a failed or cancelled SSH/Slurm job resumes from its latest checkpoint' },
  validate: { run: runValidate, summary: 'check a training or dataloader config (--json); exit 1 on any error' },
  package: { run: runPackage, summary: 'package local datasets into one zip (--out FILE, --exclude GLOB, --json)' },
  estimate: { run: runEstimate, summary: 'estimate the cost of a config on a provider/hardware' },
  jobs: { run: runJobs, summary: 'list jobs (--json, --status S); jobs <id> shows one in full' },
  logs: { run: runLogs, summary: 'print a job log (--follow to stream until it ends)' },
  cancel: { run: runCancel, summary: 'cancel a running job' },
  delete: { run: runDelete, summary: 'remove finished jobs from the history' },
  deliver: { run: runDeliver, summary: 'push a succeeded job\'s outputs to its results destination again (or --results …)' },
  machines: { run: runMachines, summary: 'rented GPU machines and orphans (--json); machines destroy <id> destroys and verifies' },
  ssh: { run: runSsh, summary: 'list SSH hosts (hosts) or check the GPUs of one (check <host>)' },
  serve: { run: (argv, io) => runServe(argv, io), summary: 'run the local results endpoint (S3-compatible) and webhook receiver' },
};

const HELP = () => `cloudtrain — submit and track fine-tuning jobs (the Cloud Training extension's CLI)

usage: cloudtrain <command> [options]

${Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(10)} ${v.summary}`).join('\n')}

Data folder: $CLOUD_TRAINING_HOME or ~/.cloud-training (shared with the VS Code extension).
Exit codes: 0 ok, 1 error, 2 bad usage, 3 refused by a spending limit, 130 Ctrl-C.
`;

/** After Ctrl-C, how long a command may take to stop by itself before its scope is closed under it. */
const INTERRUPT_GRACE_MS = 3000;
/** Last resort if something still holds the event loop after disposal: never hang a script forever. */
const EXIT_GUARD_MS = 10_000;

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP());
    return name ? ExitCode.ok : ExitCode.usage;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.stderr.write(`cloudtrain: unknown command "${name}" (try: ${Object.keys(COMMANDS).join(', ')})\n`);
    return ExitCode.usage;
  }
  // One scope per invocation, closed on every path: whatever the command opened (provider registry,
  // SSH connections and jump hosts, monitors, servers, timers) is gone when main returns.
  return inScope(io, async (scoped) => {
    const run = cmd.run(rest, scoped).catch((e: unknown) => {
      if (scoped.scope.interruptedBy) return signalExitCode(scoped.scope.interruptedBy); // a connection closed under it
      const err = e as Error & { code?: string };
      // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for bad flags.
      const usage = e instanceof UsageError || String(err.code ?? '').startsWith('ERR_PARSE_ARGS');
      io.stderr.write(`cloudtrain ${name}: ${String(err?.message ?? e).split('\n')[0]}\n`);
      if (io.env.CLOUDTRAIN_DEBUG) io.stderr.write(`${err?.stack}\n`);
      return usage ? ExitCode.usage : ExitCode.error;
    });
    // Ctrl-C: a command waiting on the scope's signal returns by itself (and says so); one stuck in a
    // network call gets a moment, then the scope is closed under it, which ends that call.
    const interrupted = new Promise<number>((resolve) => {
      const onAbort = () => {
        const t = setTimeout(() => resolve(signalExitCode(scoped.scope.interruptedBy)), INTERRUPT_GRACE_MS);
        void run.finally(() => clearTimeout(t));
      };
      if (scoped.scope.signal.aborted) onAbort();
      else scoped.scope.signal.addEventListener('abort', onAbort, { once: true });
    });
    return Promise.race([run, interrupted]);
  });
}

/**
 * The `cloudtrain` process: run, dispose, set the exit code and let Node exit by itself once stdout
 * is drained (no process.exit that could cut output short). If a handle still keeps the process alive
 * after disposal that is a bug; rather than hang a CI pipeline, a guard names it and exits.
 */
export async function cli(argv: string[], io: CliIO, opts: { exitGuardMs?: number } = {}): Promise<void> {
  const guardMs = opts.exitGuardMs ?? EXIT_GUARD_MS;
  let code: number;
  try {
    code = await main(argv, io);
  } catch (e) {
    io.stderr.write(`cloudtrain: ${(e as Error).message}\n`);
    code = ExitCode.error;
  }
  process.exitCode = code;
  setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    io.stderr.write(`cloudtrain: still running ${guardMs / 1000} s after the command ended (open: ${open.join(', ') || 'unknown'}); exiting. This is a bug, please report it.\n`);
    // Flush what is buffered before exiting.
    io.stdout.write('', () => process.exit(code));
  }, guardMs).unref();
}

if (require.main === module) {
  const io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), dataHome: defaultDataHome() };
  void cli(process.argv.slice(2), io);
}
