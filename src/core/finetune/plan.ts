import path from 'node:path';
import * as z from 'zod';
import type { ConsentSummary } from '../consent/summary';
import { formatBytes, usd } from '../format';
import { destinationFor } from '../submit/destination';
import { finetuneCost, type FinetuneCost, type FinetuneProvider } from './cost';
import { modelFamily, modelInfo } from './models';
import type { DatasetDiagnostic, DatasetFormat } from './schemas';
import { estimateCounter, tokenCounterFor, type TokenCounter } from './tokenizers';
import { countDatasetTokens } from './tokens';
import { validateDataset, type ValidationProgress } from './validate';

/**
 * The fine-tune plan: everything consent and the cost view show before anything leaves the machine
 * (files, sizes, line counts, tokens, estimated cost, destination). Built once, the same way, for the
 * CLI (`cloudtrain submit --provider together|fireworks`) and the editor (consent and cost webviews).
 */
export const FinetunePlanInputSchema = z.object({
  provider: z.enum(['together', 'fireworks']),
  model: z.string().min(1),
  trainingFile: z.string().min(1),
  validationFile: z.string().min(1).optional(),
  epochs: z.number().int().positive().default(1),
  /** Evaluations on the validation file (Together's n_evals; billed there). */
  evaluations: z.number().int().nonnegative().default(0),
  method: z.enum(['sft', 'dpo']).default('sft'),
  lora: z.boolean().default(true),
  /** Shown in the destination text (Fireworks account). */
  accountId: z.string().optional(),
  keepUploads: z.boolean().default(false),
});
export type FinetunePlanInput = z.input<typeof FinetunePlanInputSchema>;

export interface FinetunePlanFile {
  role: 'training' | 'validation';
  path: string;
  bytes: number;
  lines: number;
  examples: number;
  format?: DatasetFormat;
  tokens: number;
  /** False when the token count is an estimate (no tokenizer for the model family). */
  tokensExact: boolean;
  errors: number;
  /** The first diagnostics (validation, then examples longer than the context). */
  diagnostics: DatasetDiagnostic[];
}

export interface FinetunePlan {
  provider: FinetuneProvider;
  providerName: string;
  model: string;
  epochs: number;
  files: FinetunePlanFile[];
  totalBytes: number;
  tokenMethod: string;
  cost: FinetuneCost;
  /** Where the files go and what happens to them afterwards (consent's words). */
  destination: string;
  afterwards: string;
  /** False when a file has an error: nothing may be uploaded. */
  ok: boolean;
}

export const FINETUNE_PROVIDER_NAMES: Record<FinetuneProvider, string> = { together: 'Together AI', fireworks: 'Fireworks' };

/** A dataset with errors: names the first line and field, and says how many more there are. */
export class DatasetInvalidError extends Error {
  readonly code = 'DATASET_INVALID';
  constructor(readonly file: FinetunePlanFile) {
    const first = file.diagnostics[0];
    const where = first ? `${path.basename(file.path)}:${first.line}${first.field ? ` (${first.field})` : ''}: ${first.message}` : path.basename(file.path);
    super(`The ${file.role} file is not a valid fine-tune dataset: ${where}${file.errors > 1 ? ` (and ${file.errors - 1} more error${file.errors === 2 ? '' : 's'}; run cloudtrain validate)` : ''}. Nothing was uploaded.`);
    this.name = 'DatasetInvalidError';
  }
}

export interface PlanOptions {
  signal?: AbortSignal;
  /**
   * Count tokens with the bytes-per-token estimate even where a real tokenizer exists: Llama 3 counting
   * runs at 50–210 K tokens/s here, so a 1 GB file takes minutes; the plan then says "(estimate)".
   */
  estimateTokens?: boolean;
  /** Read size for token counting: the editor passes a small one so no chunk's tokenizing holds the extension host long. */
  tokenChunkSize?: number;
  onProgress?(file: string, p: ValidationProgress): void;
}

/** Validate one file, then (when it is valid) count its tokens: both stream the file. */
async function planFile(role: FinetunePlanFile['role'], file: string, model: string, o: PlanOptions): Promise<FinetunePlanFile> {
  const v = await validateDataset(file, { signal: o.signal, onProgress: (p) => o.onProgress?.(file, p) });
  const base = { role, path: file, bytes: v.bytes, lines: v.lines, examples: v.examples, format: v.format };
  if (!v.ok) return { ...base, tokens: 0, tokensExact: false, errors: v.errors, diagnostics: v.diagnostics };
  const t = await countDatasetTokens(file, counterFor(model, o), { signal: o.signal, chunkSize: o.tokenChunkSize, contextLength: modelInfo(model).contextLength, onProgress: (p) => o.onProgress?.(file, p) });
  const tooLong = t.diagnostics.length + t.diagnosticsOmitted;
  return { ...base, tokens: t.tokens, tokensExact: t.exact, errors: tooLong, diagnostics: t.diagnostics };
}

function counterFor(model: string, o: PlanOptions): TokenCounter {
  return o.estimateTokens ? estimateCounter(modelFamily(model), 'fast estimate asked for') : tokenCounterFor(model);
}

export async function buildFinetunePlan(input: FinetunePlanInput, o: PlanOptions = {}): Promise<FinetunePlan> {
  const i = FinetunePlanInputSchema.parse(input);
  const files = [await planFile('training', i.trainingFile, i.model, o)];
  if (i.validationFile) files.push(await planFile('validation', i.validationFile, i.model, o));
  const [train, val] = files as [FinetunePlanFile, FinetunePlanFile | undefined];
  const cost = finetuneCost({
    provider: i.provider, model: i.model, method: i.method, lora: i.lora, trainingTokens: train.tokens, tokensEstimated: !train.tokensExact,
    epochs: i.epochs, validationTokens: val?.tokens ?? 0, evaluations: i.evaluations,
  });
  const where = destinationFor(i.provider, undefined, { model: i.model, accountId: i.accountId, keepUploads: i.keepUploads });
  return {
    provider: i.provider, providerName: FINETUNE_PROVIDER_NAMES[i.provider], model: i.model, epochs: i.epochs, files,
    totalBytes: files.reduce((n, f) => n + f.bytes, 0), tokenMethod: counterFor(i.model, o).method, cost,
    destination: where.destination, afterwards: where.afterwards, ok: files.every((f) => f.errors === 0),
  };
}

/** Throws DatasetInvalidError for the first file with an error. */
export function assertPlanValid(plan: FinetunePlan): void {
  const bad = plan.files.find((f) => f.errors > 0);
  if (bad) throw new DatasetInvalidError(bad);
}

/** The expected cost for limits and history: 0 when unknown (the plan says so; see `costText`). */
export const planEstimateUsd = (plan: FinetunePlan): number => plan.cost.cost ?? 0;

/** The plan as the consent summary the existing consent flow (decideConsent, the consent webview) takes. */
export function finetuneConsentSummary(plan: FinetunePlan, workspace?: string): ConsentSummary {
  const datasets = plan.files.map((f) => ({ id: `${f.role}: ${path.basename(f.path)}`, root: path.dirname(f.path), files: 1, bytes: f.bytes }));
  return {
    provider: plan.provider, providerName: plan.providerName, destination: plan.destination, afterwards: plan.afterwards,
    datasets, excluded: [], totalFiles: datasets.length, totalBytes: plan.totalBytes, uploadBytes: plan.totalBytes, reused: false, workspace,
  };
}

const grouped = (n: number) => n.toLocaleString('en-US');

/** Providers that price a job themselves once its files are uploaded (Together's estimate-price). */
export const PRICES_AFTER_UPLOAD: ReadonlySet<string> = new Set(['together']);

export function costText(c: FinetuneCost): string {
  const after = PRICES_AFTER_UPLOAD.has(c.provider)
    ? `; ${FINETUNE_PROVIDER_NAMES[c.provider]}'s own estimate is asked after the upload and must fit your spending limits before the job is created`
    : '; spending limits cannot count it';
  return c.cost === null
    ? `Cost: unknown — no published ${c.rateKey} price for ${c.band ?? 'this model size'} on ${FINETUNE_PROVIDER_NAMES[c.provider]} in our table (prices checked ${c.checkedAt})${after}`
    : `Cost: about ${usd(c.cost)} (${grouped(c.billedTokens)} billed tokens at $${c.pricePerMillion}/1M, ${c.band}, ${c.rateKey}; prices checked ${c.checkedAt})`;
}

/** Terminal text: the files that leave the machine, sizes, lines, tokens, destination, cost. */
export function finetunePlanText(plan: FinetunePlan): string {
  return [
    `Files to upload to ${plan.providerName} for a fine-tune of ${plan.model}:`,
    ...plan.files.map((f) => `  • ${f.role}: ${f.path} — ${formatBytes(f.bytes)}, ${grouped(f.lines)} lines, ${grouped(f.examples)} examples${f.format ? ` (${f.format})` : ''}, ${grouped(f.tokens)} tokens${f.tokensExact ? '' : ' (estimate)'}`),
    `Destination: ${plan.destination}`,
    `Afterwards: ${plan.afterwards}`,
    costText(plan.cost),
    ...plan.cost.assumptions.map((a) => `  · ${a}`),
  ].join('\n');
}
