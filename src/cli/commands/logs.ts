import { parseArgs } from 'node:util';
import { isTerminal } from '../../core/jobs/schema';
import { LogTail } from '../../core/logs/tail';
import { isLocallyQueued } from '../../core/queue/schema';
import { cliContext } from '../context';
import { UsageError } from '../io';
import { scoped, signalExitCode } from '../scope';
import { sendPendingNotifications } from '../notify';
import { enforceFromCli } from '../leases';

/**
 * `cloudtrain logs <id> [--follow]` — print the job's log; with --follow keep polling the provider and
 * printing new lines until the job ends. Exit 0 if the followed job succeeded, 1 otherwise.
 */
export const runLogs = scoped(async (argv, io) => {
  const { values, positionals } = parseArgs({ args: argv, options: { follow: { type: 'boolean', short: 'f' } }, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError('usage: cloudtrain logs <job-id> [--follow]');
  const ctx = cliContext(io);
  const job = await ctx.history.resolve(positionals[0]!);
  if (!job.logPath) throw new Error(`Job ${job.id} has no log`);
  const monitor = ctx.monitor();
  await monitor.refresh(job);
  if (isLocallyQueued(job)) io.stderr.write(`Job ${job.id} is queued (${job.statusDetail ?? 'waiting for a free slot'}); it starts by itself when a slot frees\n`);
  const tail = io.scope.use(new LogTail(job.logPath, { onLines: (lines) => io.stdout.write(lines.join('\n') + '\n'), intervalMs: 250 }));
  await tail.poll();
  if (!values.follow) return 0;
  // Rented machines: enforced by a following process too (idle expiry, ceiling), and at the job's end.
  await enforceFromCli(io, ctx.history);
  tail.start();
  const { signal } = io.scope;
  for (;;) {
    const current = (await ctx.history.get(job.id)) ?? job;
    if (isTerminal(current.status)) {
      const final = (await monitor.refresh(current)) ?? current; // finalize (download, results delivery) + last log bytes
      await tail.poll();
      io.stderr.write(`Job ${current.id} ${current.status}${current.error ? `: ${current.error}` : ''}\n`);
      if (final.metadata.finalized !== true && final.metadata.finalizing) io.stderr.write('Another Cloud Training process (a VS Code window?) is collecting its outputs; `cloudtrain jobs` shows when that is done.\n');
      if (typeof final.metadata.deliveryError === 'string') io.stderr.write(`${final.metadata.deliveryError} (retry: cloudtrain deliver ${final.id})\n`);
      else if (final.metadata.deliveredAt) for (const o of final.outputs.filter((x) => x.kind === 's3' || x.kind === 'huggingface')) io.stderr.write(`Results: ${o.uri}\n`);
      await sendPendingNotifications(ctx.history, io);
      await enforceFromCli(io, ctx.history);
      return current.status === 'succeeded' ? 0 : 1;
    }
    await monitor.refresh(current);
    // A queued job (this one or another) starts when a slot frees, even with no window open.
    await monitor.runQueue();
    // Ctrl-C stops following (the job goes on); the scope closes the tail, monitor and connections.
    if (await abortableDelay(1000, signal)) return signalExitCode(io.scope.interruptedBy);
  }
});

/** Wait `ms`; true if `signal` was aborted first. The timer never outlives the wait. */
function abortableDelay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (aborted: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(aborted);
    };
    const onAbort = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
