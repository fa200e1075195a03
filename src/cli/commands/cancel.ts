import { parseArgs } from 'node:util';
import { isTerminal } from '../../core/jobs/schema';
import { cancelJob } from '../../core/jobs/cancel';
import { cliContext } from '../context';
import { UsageError } from '../io';
import { scoped } from '../scope';

/** `cloudtrain cancel <id>` — ask the provider to stop the job and record it. */
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
  const after = await cancelJob(job, ctx.history, ctx.providers, monitor, ctx.layout.home).finally(() => monitor.dispose());
  io.stdout.write(`Job ${job.id} ${after?.status ?? 'cancelled'}\n`);
  return 0;
});
