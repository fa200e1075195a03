import * as z from 'zod';
import rawPrices from '../cost/finetune-prices.json';
import { round } from '../cost/prices';
import { modelInfo } from './models';

const Rate = z.number().nonnegative().nullable();
const BandSchema = z.object({
  label: z.string(),
  maxParamsB: z.number().positive(),
  /** Only mixture-of-experts models fall in this band. */
  moe: z.boolean().default(false),
  perMillion: z.object({ 'sft-lora': Rate, 'sft-full': Rate, 'dpo-lora': Rate, 'dpo-full': Rate }),
});
const ProviderSchema = z.object({
  checkedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  source: z.string(),
  /** Whether validation tokens (× evaluations) are billed too. */
  chargesValidation: z.boolean(),
  notes: z.string(),
  bands: z.array(BandSchema).min(1),
});
export const FinetunePriceTableSchema = z.object({ providers: z.partialRecord(z.enum(['together', 'fireworks']), ProviderSchema) });
export type FinetunePriceTable = z.infer<typeof FinetunePriceTableSchema>;
export type FinetuneProvider = 'together' | 'fireworks';

/** Validated once at load, so a bad edit fails the tests instead of mis-pricing. */
export const FINETUNE_PRICES: FinetunePriceTable = FinetunePriceTableSchema.parse(rawPrices);

export const FinetuneCostInputSchema = z.object({
  provider: z.enum(['together', 'fireworks']),
  model: z.string().min(1),
  method: z.enum(['sft', 'dpo']).default('sft'),
  lora: z.boolean().default(true),
  trainingTokens: z.number().int().nonnegative(),
  /** True when the token count is an estimate (no tokenizer for the model family). */
  tokensEstimated: z.boolean().default(false),
  epochs: z.number().int().positive().default(1),
  validationTokens: z.number().int().nonnegative().default(0),
  evaluations: z.number().int().nonnegative().default(0),
});
export type FinetuneCostInput = z.input<typeof FinetuneCostInputSchema>;

export interface FinetuneCost {
  provider: FinetuneProvider;
  model: string;
  band?: string;
  rateKey: string;
  /** USD per 1M tokens; null when the provider publishes none that we found. */
  pricePerMillion: number | null;
  billedTokens: number;
  /** USD; null when the price is unknown (never a silent $0). */
  cost: number | null;
  checkedAt: string;
  source: string;
  assumptions: string[];
}

/**
 * Cost of a managed fine-tune: (training tokens × epochs [+ validation tokens × evaluations, where the
 * provider bills them]) × the per-token price of the model's size band and method.
 */
export function finetuneCost(input: FinetuneCostInput, table: FinetunePriceTable = FINETUNE_PRICES): FinetuneCost {
  const i = FinetuneCostInputSchema.parse(input);
  const p = table.providers[i.provider];
  if (!p) throw new Error(`No fine-tuning price table for provider "${i.provider}"`);
  const info = modelInfo(i.model);
  const rateKey = `${i.method}-${i.lora ? 'lora' : 'full'}` as const;
  const assumptions: string[] = [];
  const band = info.paramsB === undefined ? undefined
    : p.bands.find((b) => info.paramsB! <= b.maxParamsB && (!b.moe || info.moe));
  if (info.paramsB === undefined) assumptions.push(`the model size is not in its name "${i.model}", so no price band applies`);
  else if (!band) assumptions.push(`no ${i.provider} price band for a ${info.paramsB}B model`);
  const training = i.trainingTokens * i.epochs;
  const validation = p.chargesValidation ? i.validationTokens * i.evaluations : 0;
  if (i.validationTokens > 0 && !p.chargesValidation) assumptions.push(`${i.provider} does not state a charge for validation tokens; none counted`);
  if (p.chargesValidation && i.validationTokens > 0) assumptions.push(`validation billed: ${i.validationTokens} tokens × ${i.evaluations} evaluations`);
  if (i.tokensEstimated) assumptions.push('token count is an estimate (no tokenizer shipped for this model family)');
  assumptions.push(`billed tokens = ${i.trainingTokens} × ${i.epochs} epoch${i.epochs === 1 ? '' : 's'}${validation ? ` + ${validation}` : ''}; the provider's own tokenizer and packing may differ`);
  const rate = band ? band.perMillion[rateKey] : null;
  if (band && rate === null) assumptions.push(`no published ${rateKey} rate found for ${band.label} (see the table's notes)`);
  const billedTokens = training + validation;
  return {
    provider: i.provider, model: i.model, band: band?.label, rateKey, pricePerMillion: rate, billedTokens,
    cost: rate === null ? null : round((billedTokens / 1e6) * rate, 4),
    checkedAt: p.checkedAt, source: p.source, assumptions,
  };
}
