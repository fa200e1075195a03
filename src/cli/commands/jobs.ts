import { parseArgs } from 'node:util';
import { isActive } from '../../core/jobs/schema';
import { cliContext } from '../context';
import { jobsTable } from '../format';
import type { CliIO } from '../io';

/** `cloudtrain jobs [--json] [--status S] [--no-refresh]` — list the job history, newest first. */
export async function runJobs(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, status: { type: 'string' }, 'no-refresh': { type: 'boolean' } }, strict: true });
  const ctx = cliContext(io);
  if (!values['no-refresh']) {
    // Nobody may have polled since the job ended (no window open): bring active jobs up to date once.
    const monitor = ctx.monitor();
    for (const job of await ctx.history.list()) if (isActive(job.status)) await monitor.refresh(job);
    monitor.dispose();
  }
  let jobs = await ctx.history.list();
  if (values.status) jobs = jobs.filter((j) => j.status === values.status);
  io.stdout.write(values.json ? `${JSON.stringify(jobs, null, 2)}\n` : jobs.length ? jobsTable(jobs) : 'No jobs yet. Submit one with `cloudtrain submit`.\n');
  return 0;
}
