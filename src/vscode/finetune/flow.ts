import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BASE_MODELS, DEFAULT_LENS_MODEL } from '../../core/finetune/base-models';
import { finetuneCost, type FinetuneProvider } from '../../core/finetune/cost';
import { readJobFile, type FinetuneJob } from '../../core/finetune/job-file';
import { parseFinetuneOptions, type FinetuneOptionsInput } from '../../core/finetune/options';
import { FINETUNE_PROVIDER_NAMES } from '../../core/finetune/plan';
import type { Job } from '../../core/jobs/schema';

/** What the Fine-tune… questions settle (besides the dataset). */
export interface FinetuneChoices {
  provider: FinetuneProvider;
  model: string;
  epochs: number;
  loraRank?: number;
  lora: boolean;
  method: 'sft' | 'dpo';
  learningRate?: number;
  evaluations?: number;
  trainingFile: string;
  validationFile?: string;
  fromCheckpoint?: string;
  /** The job file the answers came from, when one was used. */
  jobFile?: string;
}

export const JOB_FILE_NAMES = ['finetune.json', 'finetune.toml', 'finetune.yaml', 'finetune.yml'] as const;
export const LAST_MODEL_KEY = 'cloudTraining.finetune.lastModel';
export const LORA_RANKS = [8, 16, 32, 64] as const;

/** A job file beside the dataset, in its parent folder, or at the workspace root (first found). */
export function findJobFile(dataset: string, workspace?: string): string | undefined {
  const dirs = [path.dirname(dataset), path.dirname(path.dirname(dataset)), ...(workspace ? [workspace] : [])];
  for (const dir of [...new Set(dirs)]) {
    for (const name of JOB_FILE_NAMES) {
      const p = path.join(dir, name);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

/** The choices a job file settles; paths in it are relative to the job file's folder. */
export function choicesFromJobFile(job: FinetuneJob, file: string, dataset: string): Partial<FinetuneChoices> {
  const rel = (p: string | undefined) => (p ? path.resolve(path.dirname(file), p) : undefined);
  return {
    provider: job.provider, model: job.base_model, epochs: job.n_epochs, loraRank: job.lora_r, lora: job.lora, method: job.method,
    learningRate: job.learning_rate, evaluations: job.n_evals || undefined, trainingFile: dataset, validationFile: rel(job.validation_file), jobFile: file,
  };
}

/** The model whose tokenizer counts a dataset for its lens: the job file's, else the last one chosen, else Llama 3.1 8B. */
export async function lensModel(dataset: string, workspace: string | undefined, memory: vscode.Memento): Promise<string> {
  const jobFile = findJobFile(dataset, workspace);
  if (jobFile) {
    try { return (await readJobFile(jobFile)).base_model; } catch { /* a broken job file: its own error shows when used */ }
  }
  return memory.get<string>(LAST_MODEL_KEY) ?? DEFAULT_LENS_MODEL;
}

/** `SubmitRequest.options` for the providers (validated by their schema, so a wrong field fails here). */
export function finetuneOptions(c: FinetuneChoices): FinetuneOptionsInput {
  const o: FinetuneOptionsInput = {
    model: c.model, trainingFile: c.trainingFile, epochs: c.epochs, lora: c.lora, method: c.method,
    ...(c.validationFile ? { validationFile: c.validationFile } : {}),
    ...(c.loraRank && c.lora ? { loraRank: c.loraRank } : {}),
    ...(c.learningRate ? { learningRate: c.learningRate } : {}),
    ...(c.evaluations ? { evaluations: c.evaluations } : {}),
    ...(c.fromCheckpoint ? { fromCheckpoint: c.fromCheckpoint } : {}),
  };
  parseFinetuneOptions(o, c.provider);
  return o;
}

/** A job's name in the tree: the dataset and the model's short name. */
export function finetuneJobName(c: Pick<FinetuneChoices, 'trainingFile' | 'model'>): string {
  return `${path.basename(c.trainingFile, path.extname(c.trainingFile))} · ${c.model.split('/').pop()}`;
}

export { finetuneWebUrl } from '../../core/finetune/web-url';

/**
 * Resubmitting a fine-tune: the same options, and where the provider can continue from the old job's
 * result, that as an option. Together continues from a job's checkpoint (`from_checkpoint` = the job
 * id); Fireworks warm-starts from a model (`warmStartFrom` = the old job's output model).
 */
export function resumeChoice(old: Job): { label: string; fromCheckpoint: string } | undefined {
  if (old.provider === 'together' && old.providerJobId) return { label: `Continue from the last checkpoint of ${old.providerJobId}`, fromCheckpoint: old.providerJobId };
  if (old.provider === 'fireworks' && typeof old.metadata.outputModel === 'string' && old.status === 'succeeded') {
    return { label: `Warm-start from ${old.metadata.outputModel}`, fromCheckpoint: old.metadata.outputModel };
  }
  return undefined;
}

/** The price of 1M training tokens for a model, for the picker ("$0.48 / 1M tokens, prices checked …"). */
export function modelPriceLabel(provider: FinetuneProvider, model: string, lora = true, method: 'sft' | 'dpo' = 'sft'): string {
  try {
    const c = finetuneCost({ provider, model, trainingTokens: 1_000_000, lora, method });
    return c.pricePerMillion === null ? `no published price (${c.band ?? 'size unknown'})` : `$${c.pricePerMillion} / 1M tokens · ${c.band} · checked ${c.checkedAt}`;
  } catch {
    return '';
  }
}

export const providerLabel = (p: FinetuneProvider): string => FINETUNE_PROVIDER_NAMES[p];
export const modelsFor = (p: FinetuneProvider): readonly string[] => BASE_MODELS[p];
