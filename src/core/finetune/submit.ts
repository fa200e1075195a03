import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ConsentMemory } from '../consent/memory';
import { ConsentRefusedError, decideConsent, type ConsentAnswer, type ConsentPolicy } from '../consent/policy';
import type { ConsentSummary } from '../consent/summary';
import { checkSpendingLimits, limitErrorForProviderPrice, limitHeadroom, PriceAboveLimitError, SpendingLimitError, type LimitCheck, type SpendingLimits } from '../cost/limits';
import { withProviderEstimate } from '../cost/provider-price';
import type { UserPricing } from '../cost/prices';
import type { JobHistory } from '../jobs/history';
import { newJob } from '../jobs/factory';
import { JobSchema, type ConsentRecord, type Job } from '../jobs/schema';
import type { DataLayout } from '../paths';
import type { ProviderRegistry } from '../providers/registry';
import type { Prompter, SubmitResult } from '../providers/types';
import { SubmitError, type SubmitStep } from '../submit/steps';
import { FinetuneOptionsSchema, type FinetuneOptions, type FinetuneOptionsInput } from './options';
import { assertPlanValid, buildFinetunePlan, finetuneConsentSummary, planEstimateUsd, type FinetunePlan } from './plan';

export interface FinetuneSubmitInput {
  provider: 'together' | 'fireworks';
  options: FinetuneOptionsInput;
  name?: string;
  workspace?: string;
  /** Fireworks account (shown in consent). */
  accountId?: string;
}

export interface FinetuneSubmitDeps {
  history: JobHistory;
  layout: DataLayout;
  providers: ProviderRegistry;
  consent: { policy: ConsentPolicy; memory: ConsentMemory; ask(summary: ConsentSummary, signal?: AbortSignal): Promise<ConsentAnswer> };
  limits: SpendingLimits;
  pricing?: UserPricing;
  /** The plan, once built and valid, before consent is asked (the terminal prints it; the editor opens its views). */
  onPlan?(plan: FinetunePlan): void;
  /** Shows the plan's cost (terminal / cost webview); false = cancelled. Absent = no confirmation. */
  confirmCost?(plan: FinetunePlan, limits: LimitCheck, signal?: AbortSignal): Promise<boolean>;
  prompter?: Prompter;
  onStep?(step: SubmitStep, message?: string, fraction?: number): void;
  log?(line: string): void;
  now?: () => Date;
}

export interface FinetuneSubmitOutcome { job: Job; plan: FinetunePlan; consent: ConsentRecord }

/**
 * The managed fine-tune submission, for the CLI and the editor: plan (validate + count tokens + price)
 * → a bad dataset stops here → consent (the files, sizes, line counts, destination) → spending limits on
 * the plan's cost → confirm → record the job → provider.submit → record its answer.
 * As in submitJob, a submission the provider never accepted leaves nothing behind.
 */
export async function submitFinetune(input: FinetuneSubmitInput, deps: FinetuneSubmitDeps, signal?: AbortSignal): Promise<FinetuneSubmitOutcome> {
  let step: SubmitStep = 'provider';
  let created: Job | undefined;
  let accepted = false;
  const enter = (s: SubmitStep) => { step = s; deps.onStep?.(s); signal?.throwIfAborted(); };
  try {
    enter('provider');
    const provider = deps.providers.get(input.provider);
    const options: FinetuneOptions = FinetuneOptionsSchema.parse(input.options);
    if (deps.consent.policy === 'never') { enter('consent'); throw new ConsentRefusedError(provider.displayName); }

    enter('config');
    const plan = await buildFinetunePlan({
      provider: input.provider, model: options.model, trainingFile: options.trainingFile, validationFile: options.validationFile,
      epochs: options.epochs ?? 1, evaluations: options.evaluations ?? 0, method: options.method, lora: options.lora,
      accountId: input.accountId, keepUploads: options.keepUploads,
    }, { signal, onProgress: (file, p) => deps.onStep?.('config', `checking ${path.basename(file)}`, p.totalBytes ? p.bytesRead / p.totalBytes : undefined) });
    assertPlanValid(plan);
    deps.onPlan?.(plan);

    enter('consent');
    const consent = await decideConsent({
      policy: deps.consent.policy, uploadsData: true, summary: finetuneConsentSummary(plan, input.workspace), workspace: input.workspace,
      memory: deps.consent.memory, ask: deps.consent.ask, signal, now: deps.now,
    });

    enter('limits');
    const expected = planEstimateUsd(plan);
    const limits = checkSpendingLimits(deps.limits, await deps.history.list(), input.provider, expected, deps.now?.(), deps.pricing);
    if (!limits.ok) throw new SpendingLimitError(limits);

    enter('confirm');
    if (deps.confirmCost && !(await deps.confirmCost(plan, limits, signal))) throw new DOMException('The cost was not confirmed', 'AbortError');
    signal?.throwIfAborted();

    enter('create');
    const job = newJob(deps.layout, {
      provider: input.provider,
      name: input.name ?? `${path.basename(options.trainingFile)} → ${options.model.split('/').pop()}`,
      hardware: 'managed',
      workspace: input.workspace,
      submission: { hardware: 'managed', options },
    }, deps.now?.());
    job.consent = consent;
    job.cost = {
      currency: 'USD', hardware: 'managed',
      ...(plan.cost.cost !== null ? { estimate: { low: plan.cost.cost, expected: plan.cost.cost, high: plan.cost.cost, basis: `${plan.cost.billedTokens} billed tokens at $${plan.cost.pricePerMillion}/1M (${plan.cost.band}); prices checked ${plan.cost.checkedAt}` } } : {}),
    };
    job.metadata = { finetuneTokens: plan.files.map((f) => ({ role: f.role, tokens: f.tokens, exact: f.tokensExact })), ...(plan.cost.cost === null ? { costUnknown: true } : {}) };
    const valid = JobSchema.parse(job);
    await deps.history.transact((current) => {
      const again = checkSpendingLimits(deps.limits, current, input.provider, expected, deps.now?.(), deps.pricing);
      if (!again.ok) throw new SpendingLimitError(again);
      return [valid, ...current];
    });
    created = valid;
    signal?.throwIfAborted();

    enter('submit');
    // No price in our table (Together): the provider checks its own estimate against what the limits leave.
    const maxCostUsd = plan.cost.cost === null ? limitHeadroom(deps.limits, await deps.history.list(), input.provider, deps.now?.(), deps.pricing) : undefined;
    let result: SubmitResult;
    try {
      result = await provider.submit(created, { hardware: 'managed', options, ...(maxCostUsd !== undefined ? { maxCostUsd } : {}) }, {
        signal, dataHome: deps.layout.home, prompter: deps.prompter, log: deps.log, report: (m, f) => deps.onStep?.('submit', m, f),
      });
    } catch (e) {
      if (e instanceof PriceAboveLimitError) throw limitErrorForProviderPrice(e, deps.limits, await deps.history.list(), input.provider, deps.now?.(), deps.pricing);
      throw e;
    }
    accepted = true;

    step = 'record';
    deps.onStep?.('record');
    const recorded = await deps.history.update(created.id, (j) => withProviderEstimate({
      ...j, status: result.status, providerJobId: result.providerJobId, providerStatus: result.providerStatus,
      startedAt: result.startedAt ?? j.startedAt, metadata: { ...j.metadata, ...result.metadata },
    }, result.metadata));
    if (!recorded) throw new Error(`job ${created.id} disappeared from the history while it was being started`);
    return { job: recorded, plan, consent };
  } catch (e) {
    if (!accepted && created) {
      await Promise.allSettled([
        deps.history.remove([created.id]),
        created.logPath ? fs.rm(created.logPath, { force: true }) : Promise.resolve(),
      ]);
    }
    if (e instanceof SpendingLimitError) throw e;
    const name = (e as { name?: string })?.name;
    const cancelled = !accepted && (name === 'AbortError' || (e as { code?: string })?.code === 'CONSENT_DECLINED' || Boolean(signal?.aborted));
    throw new SubmitError(step, cancelled, e);
  }
}
