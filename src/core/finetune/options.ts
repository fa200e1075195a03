import * as z from 'zod';

/**
 * What a managed fine-tune submission carries in `SubmitRequest.options` (and so in the job's
 * `submission.options`, which Resubmit reuses). Shared by the Together and Fireworks providers, the
 * CLI flags and the editor. Paths are absolute; nothing here is secret.
 */
export const FinetuneOptionsSchema = z.object({
  model: z.string().min(1),
  trainingFile: z.string().min(1),
  validationFile: z.string().min(1).optional(),
  epochs: z.number().int().positive().optional(),
  learningRate: z.number().positive().optional(),
  /** LoRA rank; LoRA is the default method. */
  loraRank: z.number().int().positive().optional(),
  lora: z.boolean().default(true),
  method: z.enum(['sft', 'dpo']).default('sft'),
  /** Together `n_evals` (evaluations on the validation file). */
  evaluations: z.number().int().nonnegative().optional(),
  /** Together `from_checkpoint` (a job id, optionally `:step`); Fireworks `warmStartFrom` (a model name). */
  fromCheckpoint: z.string().min(1).optional(),
  /** Keep the uploaded files at the provider when the job ends (default: deleted). */
  keepUploads: z.boolean().default(false),
  /** Together: download the LoRA adapter into outputs/<job> at the end (default on). */
  downloadWeights: z.boolean().default(true),
});
export type FinetuneOptions = z.infer<typeof FinetuneOptionsSchema>;
export type FinetuneOptionsInput = z.input<typeof FinetuneOptionsSchema>;

/** Parse options or throw one message naming the field. */
export function parseFinetuneOptions(raw: unknown, provider: string): FinetuneOptions {
  const r = FinetuneOptionsSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new Error(`${provider} fine-tune options are invalid: ${i?.path.join('.') || '(root)'} ${i?.message ?? ''}`.trim());
}

/**
 * Our marker for a job at the provider, derived from our job id so a create whose answer was lost can be
 * found again: lowercase letters, digits and hyphens (both providers' id rules), at most 40 characters.
 */
export function providerMarker(jobId: string): string {
  const clean = jobId.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `ct-${clean}`.slice(0, 40).replace(/-+$/, '');
}
