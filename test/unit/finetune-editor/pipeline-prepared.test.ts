import assert from 'node:assert/strict';
import { ConsentMemory } from '../../../src/core/consent/memory';
import { SpendingLimitError, SpendingLimitsSchema } from '../../../src/core/cost/limits';
import { buildFinetunePlan } from '../../../src/core/finetune/plan';
import { finetuneConsent, finetuneCostEstimate, finetuneCostView } from '../../../src/core/finetune/views';
import type { SubmitRequest, TrainingProvider } from '../../../src/core/providers/types';
import { submitJob } from '../../../src/core/submit/pipeline';
import { ConsentViewDataSchema, CostViewDataSchema } from '../../../webview/shared/protocol';
import { harness, type Harness } from '../submit/fixtures';
import { GOOD, tempDir } from '../finetune/helpers';

/** A managed fine-tune provider stand-in: records what it was asked to do. */
function fakeFinetuneProvider(calls: SubmitRequest[]): TrainingProvider {
  return {
    id: 'fireworks', displayName: 'Fireworks',
    capabilities: { costTracking: true, liveLogs: true, cancel: true, resume: true, webhooks: false, listRemote: false, uploadsData: true },
    validateCredentials: async () => ({ ok: true, message: 'ok' }),
    listHardware: async () => [{ id: 'managed', label: 'Managed' }],
    submit: async (_job, req) => { calls.push(req); return { providerJobId: 'accounts/a/supervisedFineTuningJobs/x1', status: 'queued' }; },
    status: async () => ({ status: 'queued' }),
    fetchLogs: async () => null,
    cancel: async () => {},
  };
}

describe('shared pipeline with a prepared fine-tune plan (no package; consent and estimate from the plan)', () => {
  const t = tempDir();
  let h: Harness;
  beforeEach(() => { h = harness(); });
  afterEach(async () => { await h.dispose(); });
  after(() => t.cleanup());

  const plan = async (examples: number) => buildFinetunePlan({
    provider: 'fireworks', model: 'accounts/fireworks/models/llama-v3p1-8b-instruct', epochs: 3,
    trainingFile: t.file(`train-${examples}.jsonl`, `${GOOD}\n`.repeat(examples)), accountId: 'acme',
  });

  it('consent lists the JSONL file with its lines and size; the estimate is tokens × epochs × price; the provider gets the options', async () => {
    const p = await plan(20);
    const calls: SubmitRequest[] = [];
    h.providers.register('fireworks', () => fakeFinetuneProvider(calls));
    let asked: unknown;
    const out = await submitJob({
      provider: 'fireworks', hardware: p.model, name: 'ft', options: { model: p.model, trainingFile: p.files[0]!.path, epochs: 3 },
      prepared: { consent: finetuneConsent(p), estimate: finetuneCostEstimate(p) },
    }, h.deps({ consent: { policy: 'ask', memory: new ConsentMemory(h.layout.home), ask: async (s) => { asked = s; return 'once'; } } }));
    const consent = ConsentViewDataSchema.parse({ summary: asked, canAlwaysAllow: false }).summary;
    assert.deepEqual(consent.datasets.map((d) => [d.id, d.lines, d.bytes]), [[`training: train-20.jsonl`, 20, p.files[0]!.bytes]]);
    assert.match(consent.destination, /Fireworks .*acme/);
    assert.equal(h.packager.built.length, 0, 'no package is built for a fine-tune');
    assert.equal(calls[0]!.options!.model, p.model);
    assert.equal(calls[0]!.packagePath, undefined);
    assert.equal(out.job.cost?.estimate?.expected, p.cost.cost);
    assert.equal(p.cost.billedTokens, p.files[0]!.tokens * 3);
    assert.equal(p.cost.pricePerMillion, 0.5);
    // The cost page's data validates at the webview boundary.
    CostViewDataSchema.parse({ estimate: finetuneCostEstimate(p), spend: { day: 0, month: 0, byProvider: {} }, limits: { ok: true, message: '', applicable: [] }, mode: 'confirm', finetune: finetuneCostView(p) });
  });

  it('a known price over a spending limit is refused before the provider is called (as for Replicate)', async () => {
    const p = await plan(2000);
    assert.ok((p.cost.cost ?? 0) > 0);
    const calls: SubmitRequest[] = [];
    h.providers.register('fireworks', () => fakeFinetuneProvider(calls));
    await assert.rejects(submitJob({
      provider: 'fireworks', hardware: p.model, options: {}, prepared: { consent: finetuneConsent(p), estimate: finetuneCostEstimate(p) },
    }, h.deps({ limits: SpendingLimitsSchema.parse({ daily: (p.cost.cost ?? 0) / 2 }) })), SpendingLimitError);
    assert.deepEqual(calls, []);
    assert.deepEqual(await h.history.list(), []);
  });

  it('the cost view refuses page data with a bad finetune block (zod at the boundary)', () => {
    const bad = { estimate: {}, spend: { day: 0, month: 0, byProvider: {} }, limits: { ok: true, message: '', applicable: [] }, mode: 'info', finetune: { model: 'm', epochs: 0 } };
    assert.equal(CostViewDataSchema.safeParse(bad).success, false);
  });
});
