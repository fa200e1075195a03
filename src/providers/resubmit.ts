import type { Job } from '../core/jobs/schema';
import type { SubmitInput } from '../core/submit/pipeline';
import { slurmResumeRequest } from './slurm/provider';
import { resumeRequestFromJob } from './ssh/provider';

/**
 * What submitting `old` again means, for the editor's *Resubmit* and `cloudtrain resubmit`: the same
 * configs, provider, hardware, command and options. A failed or cancelled SSH or Slurm job resumes
 * instead: SSH in the same job folder on the host with the template's "continue from the latest
 * checkpoint"; Slurm in a new job folder writing to the old job's output folder, `{resume}` filled.
 */
export function resubmitInput(old: Job): SubmitInput & { resumes: boolean } {
  const base = {
    provider: old.provider,
    trainingConfigPath: old.configPaths.training,
    dataloaderConfigPath: old.configPaths.training ? undefined : old.configPaths.dataloader,
    workspace: old.workspace,
  };
  if (old.provider === 'ssh' && (old.status === 'failed' || old.status === 'cancelled')) {
    const resume = resumeRequestFromJob(old);
    return { ...base, hardware: resume.hardware ?? old.hardware, command: resume.command, cwd: resume.cwd, options: resume.options, name: `${old.name} (resumed)`, resumes: true };
  }
  if (old.provider === 'slurm' && (old.status === 'failed' || old.status === 'cancelled')) {
    const resume = slurmResumeRequest(old);
    return { ...base, hardware: resume.hardware ?? old.hardware, command: resume.command, cwd: resume.cwd, env: resume.env, options: resume.options, name: `${old.name} (resumed)`, resumes: true };
  }
  const sub = old.submission ?? {};
  return {
    ...base,
    hardware: old.hardware,
    command: typeof sub.command === 'string' ? sub.command : undefined,
    cwd: typeof sub.cwd === 'string' ? sub.cwd : undefined,
    steps: typeof sub.steps === 'number' ? sub.steps : undefined,
    options: isRecord(sub.options) ? sub.options : undefined,
    name: old.name,
    resumes: false,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
