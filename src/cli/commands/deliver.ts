import { parseArgs } from 'node:util';
import { envSecretLookup, redeliverJob } from '../../core/destinations/job-delivery';
import { cliContext } from '../context';
import { ExitCode, UsageError } from '../io';
import { scoped } from '../scope';
import { RESULTS_HELP, RESULTS_OPTIONS, RESULTS_USAGE, parseResultsFlags } from '../results';

const USAGE = `usage: cloudtrain deliver <job-id> ${RESULTS_USAGE} [--json]`;

/**
 * `cloudtrain deliver <id>` — push a succeeded local/SSH/Slurm job's outputs (already on this
 * machine) to its results destination again, e.g. after a failed delivery, or to the destination
 * given with --results (which is then kept on the job). Secrets from the environment. Exit 0 when
 * delivered, 1 when the delivery failed (recorded on the job), 2 for bad usage.
 */
export const runDeliver = scoped(async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...RESULTS_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${USAGE}\n\nDelivers a succeeded local/SSH/Slurm job's outputs to its results destination (again), or to the one given.\n\n${RESULTS_HELP}\n`);
    return ExitCode.ok;
  }
  if (positionals.length !== 1) throw new UsageError(USAGE);
  const given = parseResultsFlags(values);
  if (given === null) throw new UsageError('--results none: nothing to deliver to (give hf:<owner/repo> or s3://<bucket>/<prefix>, e.g. --results s3://my-bucket/loras)');
  const ctx = cliContext(io);
  const { job, outcome } = await redeliverJob({
    history: ctx.history, jobId: positionals[0]!, destination: given, deps: { secrets: envSecretLookup(io.env), env: io.env },
    log: (l) => io.stderr.write(`${l}\n`),
  });
  if (values.json) io.stdout.write(`${JSON.stringify({ delivered: outcome.delivered, error: outcome.error, outputs: outcome.outputs, job }, null, 2)}\n`);
  if (!outcome.delivered) {
    if (!values.json) io.stderr.write(`cloudtrain deliver: ${outcome.error}\n`);
    return ExitCode.error;
  }
  if (!values.json) for (const o of outcome.outputs) io.stdout.write(`${o.uri}\n`);
  return ExitCode.ok;
});
