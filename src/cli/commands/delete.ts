import { parseArgs } from 'node:util';
import { isActive } from '../../core/jobs/schema';
import { cliContext } from '../context';
import { UsageError } from '../io';
import { scoped } from '../scope';

/** `cloudtrain delete <id>...` — remove finished jobs from the history (their log mirrors stay on disk). */
export const runDelete = scoped(async (argv, io) => {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true });
  if (!positionals.length) throw new UsageError('usage: cloudtrain delete <job-id>...');
  const ctx = cliContext(io);
  const jobs = await Promise.all(positionals.map((p) => ctx.history.resolve(p)));
  const active = jobs.filter((j) => isActive(j.status));
  if (active.length) throw new Error(`Job ${active[0]!.id} is still ${active[0]!.status}; cancel it first`);
  const n = await ctx.history.remove(jobs.map((j) => j.id));
  io.stdout.write(`Deleted ${n} job(s)\n`);
  return 0;
});
