import { existsSync } from 'node:fs';
import path from 'node:path';
import type { FinetuneOptionsInput } from '../core/finetune/options';
import { UsageError } from './io';

/** parseArgs options of `cloudtrain submit --provider together|fireworks` (managed LLM fine-tunes). */
export const FINETUNE_OPTIONS = {
  model: { type: 'string' },
  dataset: { type: 'string' },
  validation: { type: 'string' },
  epochs: { type: 'string' },
  'lora-rank': { type: 'string' },
  'learning-rate': { type: 'string' },
  evals: { type: 'string' },
  method: { type: 'string' },
  full: { type: 'boolean' },
  'from-checkpoint': { type: 'string' },
  'keep-uploads': { type: 'boolean' },
  'no-download': { type: 'boolean' },
} as const;

export const FINETUNE_USAGE = 'usage: cloudtrain submit --provider together|fireworks --model M --dataset <train.jsonl> [--validation <val.jsonl> [--evals N]] [--epochs N] [--lora-rank R] [--learning-rate X] [--method sft|dpo] [--full] [--from-checkpoint C] [--keep-uploads] [--no-download] [--name N] [--yes] [--follow] [--json]';

export const FINETUNE_HELP = `${FINETUNE_USAGE}

Managed LLM fine-tunes from a JSONL dataset (chat, instruction, preference or text). Validates every line
(nothing is sent if one is wrong), counts tokens, shows the files that leave the machine and the cost
(tokens × epochs × the dated price table), checks the spending limits, uploads (reusing an identical file
the provider already has) and starts the job.

  -p, --provider P          together (TOGETHER_API_KEY) | fireworks (FIREWORKS_API_KEY, FIREWORKS_ACCOUNT_ID)
      --model M             base model, e.g. meta-llama/Meta-Llama-3.1-8B-Instruct-Reference (Together) or
                            accounts/fireworks/models/llama-v3p1-8b-instruct (Fireworks)
      --dataset FILE        training JSONL
      --validation FILE     validation JSONL (Together: evaluated --evals times, billed; Fireworks: evaluation dataset)
      --epochs N            epochs (default 1)
      --lora-rank R         LoRA rank (default 8 on Together; the provider's default on Fireworks)
      --learning-rate X     learning rate
      --method sft|dpo      training method (default sft; dpo on Together only)
      --full                full fine-tune instead of LoRA (Together)
      --from-checkpoint C   continue: Together from_checkpoint (a job id, or id:step); Fireworks warmStartFrom (a model)
      --keep-uploads        keep the uploaded files at the provider when the job ends (default: deleted)
      --no-download         Together: do not download the LoRA adapter into outputs/<job> at the end
      --name N              job name
  -y, --yes                 allow the upload without asking
  -f, --follow              stream the job's events until it ends; exit 0 only if it succeeded
      --json                print the job and the plan as JSON

Exit codes: 0 submitted (with --follow: succeeded), 1 failed (bad dataset, provider refused, wrong key),
2 bad usage, 3 blocked by a spending limit, 130 interrupted.
Example: cloudtrain submit --provider together --model meta-llama/Meta-Llama-3.1-8B-Instruct-Reference --dataset data/train.jsonl --epochs 2 --yes --follow
`;

export interface FinetuneFlagValues {
  model?: string; dataset?: string; validation?: string; epochs?: string; 'lora-rank'?: string; 'learning-rate'?: string;
  evals?: string; method?: string; full?: boolean; 'from-checkpoint'?: string; 'keep-uploads'?: boolean; 'no-download'?: boolean;
}

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, got "${v}"`);
  return n;
}

function file(cwd: string, flag: string, v: string): string {
  const abs = path.resolve(cwd, v);
  if (!existsSync(abs)) throw new UsageError(`${flag}: no file at ${abs}`);
  return abs;
}

/** The flags → the provider options (validated again by the provider with FinetuneOptionsSchema). */
export function parseFinetuneFlags(v: FinetuneFlagValues, provider: 'together' | 'fireworks', cwd: string): FinetuneOptionsInput {
  if (!v.model?.trim() || !v.dataset) throw new UsageError(`--model and --dataset are required\n${FINETUNE_USAGE}`);
  if (v.method !== undefined && v.method !== 'sft' && v.method !== 'dpo') throw new UsageError(`--method must be sft or dpo, got "${v.method}"`);
  if (provider === 'fireworks' && v.method === 'dpo') throw new UsageError('--method dpo: DPO on Fireworks is not supported yet (use --provider together)');
  if (provider === 'fireworks' && v.full) throw new UsageError('--full is for --provider together (Fireworks fine-tunes here are LoRA)');
  if (provider === 'fireworks' && v['no-download']) throw new UsageError('--no-download is for --provider together (nothing is downloaded from Fireworks)');
  const lr = v['learning-rate'] === undefined ? undefined : Number(v['learning-rate']);
  if (lr !== undefined && !(Number.isFinite(lr) && lr > 0)) throw new UsageError(`--learning-rate must be a positive number, got "${v['learning-rate']}"`);
  const evals = v.evals === undefined ? undefined : Number(v.evals);
  if (evals !== undefined && !(Number.isInteger(evals) && evals >= 0)) throw new UsageError(`--evals must be a whole number, got "${v.evals}"`);
  if (evals !== undefined && !v.validation) throw new UsageError('--evals needs --validation <val.jsonl>');
  const drop = <T extends Record<string, unknown>>(o: T) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
  return drop({
    model: v.model.trim(),
    trainingFile: file(cwd, '--dataset', v.dataset),
    validationFile: v.validation ? file(cwd, '--validation', v.validation) : undefined,
    epochs: positiveInt('--epochs', v.epochs),
    loraRank: positiveInt('--lora-rank', v['lora-rank']),
    learningRate: lr,
    evaluations: evals,
    method: v.method as 'sft' | 'dpo' | undefined,
    lora: !v.full,
    fromCheckpoint: v['from-checkpoint']?.trim() || undefined,
    keepUploads: Boolean(v['keep-uploads']),
    downloadWeights: !v['no-download'],
  });
}

/** `--provider together|fireworks` (any spelling parseArgs takes) → the fine-tune submit path. */
export function finetuneProviderIn(argv: string[]): 'together' | 'fireworks' | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = a === '--provider' || a === '-p' ? argv[i + 1] : a.startsWith('--provider=') ? a.slice('--provider='.length) : a.startsWith('-p') && a.length > 2 && !a.startsWith('--') ? a.slice(2) : undefined;
    if (v === 'together' || v === 'fireworks') return v;
  }
  return undefined;
}
