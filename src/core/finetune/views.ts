import path from 'node:path';
import type { ConsentSummary } from '../consent/summary';
import type { CostEstimate } from '../cost/estimate';
import { costText, finetuneConsentSummary, planEstimateUsd, PRICES_AFTER_UPLOAD, type FinetunePlan } from './plan';

/**
 * A fine-tune plan in the shapes the shared submission steps take: the consent summary (with each
 * file's line count) and a CostEstimate (what limits, the history's cost record and the cost view's
 * Submit button read). The estimate has no hours: price per hour and durations are 0, the model stands
 * in for the hardware, and the range is the one figure (a token price has no speed uncertainty).
 */
export function finetuneConsent(plan: FinetunePlan, workspace?: string): ConsentSummary {
  const summary = finetuneConsentSummary(plan, workspace);
  return { ...summary, datasets: summary.datasets.map((d, i) => ({ ...d, lines: plan.files[i]?.lines })) };
}

export function finetuneCostEstimate(plan: FinetunePlan): CostEstimate {
  const usd = planEstimateUsd(plan);
  const c = plan.cost;
  return {
    provider: plan.provider,
    hardware: plan.model,
    hardwareLabel: `${plan.model}${c.band ? ` (${c.band}, ${c.rateKey})` : ` (${c.rateKey})`}`,
    gpus: 0,
    pricePerHour: 0,
    priceCheckedAt: c.checkedAt,
    priceSource: c.source,
    steps: plan.epochs,
    stepsSource: 'argument',
    secondsPerStep: { low: 0, expected: 0, high: 0 },
    durationSeconds: { low: 0, expected: 0, high: 0 },
    cost: { low: usd, expected: usd, high: usd },
    basis: 'default',
    samples: 0,
    basisText: costText(c),
  };
}

/** The `finetune` block of the cost view (webview/shared/protocol.ts CostViewData). */
export function finetuneCostView(plan: FinetunePlan) {
  const c = plan.cost;
  return {
    model: plan.model,
    band: c.band,
    rateKey: c.rateKey,
    epochs: plan.epochs,
    files: plan.files.map((f) => ({ role: f.role, name: path.basename(f.path), examples: f.examples, tokens: f.tokens })),
    tokensExact: plan.files.every((f) => f.tokensExact),
    tokenMethod: plan.tokenMethod,
    billedTokens: c.billedTokens,
    pricePerMillion: c.pricePerMillion,
    cost: c.cost,
    checkedAt: c.checkedAt,
    source: c.source,
    assumptions: c.assumptions,
    ...(c.cost === null && PRICES_AFTER_UPLOAD.has(plan.provider)
      ? { priceCheck: `${plan.providerName} prices the job itself once the files are uploaded (estimate-price). With spending limits set, that price must fit what they leave before the job is created, or the uploaded files are deleted and nothing starts.` }
      : {}),
  };
}
