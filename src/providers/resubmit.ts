import type { Job } from '../core/jobs/schema';
import { FinetuneOptionsSchema } from '../core/finetune/options';
import type { FinetuneSubmitInput } from '../core/finetune/submit';
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

/**
 * Resubmitting a managed fine-tune (Together, Fireworks): the same options, continuing where the
 * provider allows it. Together: a failed or cancelled job continues from its latest checkpoint
 * (`from_checkpoint` = the old job's id). Fireworks: a succeeded job's LoRA is the warm start
 * (`warmStartFrom` = its output model); a failed one has no model to start from, so it starts over.
 * Anything else is the same submission again.
 */
export function resubmitFinetuneInput(old: Job): FinetuneSubmitInput & { resumes: boolean; from?: string } {
  if (old.provider !== 'together' && old.provider !== 'fireworks') throw new Error(`Job ${old.id} is not a managed fine-tune (provider ${old.provider})`);
  const parsed = FinetuneOptionsSchema.safeParse(old.submission?.options);
  if (!parsed.success) throw new Error(`Job ${old.id} has no fine-tune options to submit again`);
  const { fromCheckpoint: _previous, ...options } = parsed.data;
  const base = { provider: old.provider, workspace: old.workspace, accountId: typeof old.metadata.fireworksAccount === 'string' ? old.metadata.fireworksAccount : undefined };
  const outputModel = typeof old.metadata.outputModel === 'string' ? old.metadata.outputModel : undefined;
  if (old.provider === 'together' && old.providerJobId && (old.status === 'failed' || old.status === 'cancelled')) {
    return { ...base, options: { ...options, fromCheckpoint: old.providerJobId }, name: `${old.name} (resumed)`, resumes: true, from: old.providerJobId };
  }
  if (old.provider === 'fireworks' && old.status === 'succeeded' && outputModel) {
    return { ...base, options: { ...options, fromCheckpoint: outputModel }, name: `${old.name} (continued)`, resumes: true, from: outputModel };
  }
  return { ...base, options: parsed.data, name: old.name, resumes: false };
}
