import { parseArgs } from 'node:util';
import { loadCliSettings, workspaceOf } from '../../core/submit/settings';
import { resubmitFinetuneInput, resubmitInput } from '../../providers/resubmit';
import { runFinetuneSubmission } from './submit-finetune';
import { cliContext } from '../context';
import { ExitCode, UsageError } from '../io';
import { scoped } from '../scope';
import { runSubmission } from './submit';

const USAGE = 'usage: cloudtrain resubmit <job-id> [--yes] [--follow] [--json] [--snapshot | --no-snapshot]';
const HELP = `${USAGE}

Submits a job again with what its first submission used (configs, provider, hardware, command,
options), through the same consent, cost and spending-limit checks as \`cloudtrain submit\`.
A failed or cancelled SSH or Slurm job resumes instead: SSH runs in the same job folder on the host
and the template continues from the latest checkpoint (SimpleTuner: resume_from_checkpoint=latest);
Slurm writes into the old job's output folder, with {resume} in the command filled in
(" --resume_from_checkpoint=latest") and CLOUD_TRAINING_RESUME=latest set.
A failed or cancelled Together fine-tune continues from its latest checkpoint (from_checkpoint); a
succeeded Fireworks fine-tune is continued from its LoRA (warmStartFrom).

  -y, --yes      allow the upload without asking
  -f, --follow   stream the log until the job ends; exit 0 only if it succeeded
      --json     print the new job and the estimate as JSON
`;

/** `cloudtrain resubmit <id>`: the editor's *Resubmit Job*, for pipelines. */
export const runResubmit = scoped(async (argv, io) => {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      yes: { type: 'boolean', short: 'y' }, follow: { type: 'boolean', short: 'f' }, json: { type: 'boolean' },
      snapshot: { type: 'boolean' }, 'no-snapshot': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    io.stdout.write(HELP);
    return ExitCode.ok;
  }
  if (positionals.length !== 1) throw new UsageError(USAGE);
  if (values.snapshot && values['no-snapshot']) throw new UsageError('--snapshot and --no-snapshot contradict each other (give one, e.g. --snapshot)');
  const ctx = cliContext(io);
  const old = await ctx.history.resolve(positionals[0]!);
  if (old.provider === 'together' || old.provider === 'fireworks') {
    const { resumes, from, ...ft } = resubmitFinetuneInput(old);
    if (!values.json) io.stderr.write(resumes ? `Continuing ${old.name} (${old.id}) from ${from}\n` : `Submitting ${old.name} (${old.id}) again\n`);
    return runFinetuneSubmission(ft, { values, io, over: {}, command: 'resubmit' });
  }
  const { resumes, ...input } = resubmitInput(old);
  const workspace = old.workspace ?? workspaceOf(input.trainingConfigPath ?? input.dataloaderConfigPath, io.cwd);
  const { settings } = await loadCliSettings({ dataHome: io.dataHome, workspace, env: io.env });
  if (!values.json) io.stderr.write(resumes ? `Resuming ${old.name} (${old.id}) from its latest checkpoint on ${input.hardware}\n` : `Submitting ${old.name} (${old.id}) again\n`);
  return runSubmission({ ...input, workspace }, { values, io, over: {}, ctx, settings, workspace, command: 'resubmit' });
});
