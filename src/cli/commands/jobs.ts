import { parseArgs } from 'node:util';
import { isActive } from '../../core/jobs/schema';
import { cliContext } from '../context';
import { jobDetails, jobsTable } from '../format';
import { UsageError } from '../io';
import { scoped } from '../scope';
import { sendPendingNotifications } from '../notify';
import { enforceFromCli } from '../leases';

/**
 * `cloudtrain jobs [--json] [--status S] [--no-refresh]` — list the job history, newest first.
 * `cloudtrain jobs <id> [--json]` — one job in full (an id prefix is enough).
 */
export const runJobs = scoped(async (argv, io) => {
  const { values, positionals } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, status: { type: 'string' }, 'no-refresh': { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (positionals.length > 1) throw new UsageError('usage: cloudtrain jobs [<job-id>] [--json] [--status S] [--no-refresh]');
  const ctx = cliContext(io);
  if (positionals.length === 1) {
    let job = await ctx.history.resolve(positionals[0]!);
    if (!values['no-refresh'] && isActive(job.status)) {
      const monitor = ctx.monitor();
      job = (await monitor.refresh(job)) ?? job;
      // A waiting job starts here when its slot is free (and nobody else started it).
      await monitor.runQueue();
      job = (await ctx.history.get(job.id)) ?? job;
      monitor.dispose();
      await sendPendingNotifications(ctx.history, io);
    }
    io.stdout.write(values.json ? `${JSON.stringify(job, null, 2)}\n` : jobDetails(job));
    return 0;
  }
  if (!values['no-refresh']) {
    // Nobody may have polled since the job ended (no window open): bring active jobs up to date once.
    const monitor = ctx.monitor();
    for (const job of await ctx.history.list()) if (isActive(job.status)) await monitor.refresh(job);
    // Slots freed by jobs that ended (here or unseen since): the queue's next jobs start now.
    await monitor.runQueue();
    monitor.dispose();
    // A job this refresh finalised (or one nobody has sent yet) goes to the webhook, if one is set.
    await sendPendingNotifications(ctx.history, io);
    // Rented machines: policy at job end, idle expiry, ceiling, orphans — with no window open too.
    await enforceFromCli(io, ctx.history);
  }
  let jobs = await ctx.history.list();
  if (values.status) jobs = jobs.filter((j) => j.status === values.status);
  io.stdout.write(values.json ? `${JSON.stringify(jobs, null, 2)}\n` : jobs.length ? jobsTable(jobs) : 'No jobs yet. Submit one with `cloudtrain submit`.\n');
  return 0;
});
