import { parseArgs } from 'node:util';
import { isTerminal } from '../../core/jobs/schema';
import { cancelJob } from '../../core/jobs/cancel';
import { cliContext } from '../context';
import { UsageError } from '../io';
import { scoped, signalExitCode } from '../scope';

/** How long `cancel` waits for the job to stop before reporting that it is still stopping. */
const CANCEL_WAIT_MS = 30_000;

/** `cloudtrain cancel <id>` — ask the provider to stop the job, record it, and report how it ended. */
export const runCancel = scoped(async (argv, io) => {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError('usage: cloudtrain cancel <job-id>');
  const ctx = cliContext(io);
  const job = await ctx.history.resolve(positionals[0]!);
  if (isTerminal(job.status)) {
    io.stdout.write(`Job ${job.id} already ${job.status}\n`);
    return 0;
  }
  const monitor = ctx.monitor();
  // The wait can take a while (scancel, a process group's grace period): say what is happening.
  io.stderr.write(`Cancelling job ${job.id}; waiting up to ${CANCEL_WAIT_MS / 1000} s for ${job.provider} to stop it…\n`);
  const after = await cancelJob(job, ctx.history, ctx.providers, monitor, ctx.layout.home, { waitMs: CANCEL_WAIT_MS, signal: io.scope.signal }).finally(() => monitor.dispose());
  if (!after || isTerminal(after.status)) io.stdout.write(`Job ${job.id} ${after?.status ?? 'cancelled'}\n`);
  else io.stdout.write(`Job ${job.id} ${after.status}: cancel requested, the provider is still stopping it (see cloudtrain jobs ${job.id})\n`);
  return io.scope.interruptedBy ? signalExitCode(io.scope.interruptedBy) : 0;
});
