import { defaultDataHome } from '../core/paths';
import { ExitCode, UsageError, type CliIO } from './io';
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

type Command = (argv: string[], io: CliIO) => Promise<number>;

/** Every subcommand; each lives in commands/<name>.ts and shares the core with the extension. */
const COMMANDS: Record<string, { run: Command; summary: string }> = {
  submit: { run: runSubmit, summary: 'package, check consent and cost, and start a job (--provider local|replicate|ssh|slurm, --results …; --help)' },
  resubmit: { run: runResubmit, summary: 'submit a job again; a failed or cancelled SSH/Slurm job resumes from its latest checkpoint' },
  validate: { run: runValidate, summary: 'check a training or dataloader config (--json); exit 1 on any error' },
  package: { run: runPackage, summary: 'package local datasets into one zip (--out FILE, --exclude GLOB, --json)' },
  estimate: { run: runEstimate, summary: 'estimate the cost of a config on a provider/hardware' },
  jobs: { run: runJobs, summary: 'list jobs (--json, --status S); jobs <id> shows one in full' },
  logs: { run: runLogs, summary: 'print a job log (--follow to stream until it ends)' },
  cancel: { run: runCancel, summary: 'cancel a running job' },
  delete: { run: runDelete, summary: 'remove finished jobs from the history' },
  deliver: { run: runDeliver, summary: 'push a succeeded job\'s outputs to its results destination again (or --results …)' },
  ssh: { run: runSsh, summary: 'list SSH hosts (hosts) or check the GPUs of one (check <host>)' },
  serve: { run: (argv, io) => runServe(argv, io), summary: 'run the local results endpoint (S3-compatible) and webhook receiver' },
};

const HELP = () => `cloudtrain — submit and track fine-tuning jobs (the Cloud Training extension's CLI)

usage: cloudtrain <command> [options]

${Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(10)} ${v.summary}`).join('\n')}

Data folder: $CLOUD_TRAINING_HOME or ~/.cloud-training (shared with the VS Code extension).
Exit codes: 0 ok, 1 error, 2 bad usage, 3 refused by a spending limit.
`;

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
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    const err = e as Error & { code?: string };
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for bad flags.
    const usage = e instanceof UsageError || String(err.code ?? '').startsWith('ERR_PARSE_ARGS');
    io.stderr.write(`cloudtrain ${name}: ${err.message.split('\n')[0]}\n`);
    if (process.env.CLOUDTRAIN_DEBUG) io.stderr.write(`${err.stack}\n`);
    return usage ? ExitCode.usage : ExitCode.error;
  }
}

if (require.main === module) {
  const io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), dataHome: defaultDataHome() };
  main(process.argv.slice(2), io).then((code) => {
    process.exitCode = code;
  }, (e) => {
    process.stderr.write(`cloudtrain: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
