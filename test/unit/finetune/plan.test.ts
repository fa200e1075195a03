import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertPlanValid, buildFinetunePlan, DatasetInvalidError, finetuneConsentSummary, finetunePlanText } from '../../../src/core/finetune/plan';
import { resubmitFinetuneInput } from '../../../src/providers/resubmit';
import type { Job } from '../../../src/core/jobs/schema';

/** The plan both the CLI and the editor show for consent and cost. */
describe('finetune: plan (files, sizes, lines, tokens, cost, destination)', function () {
  this.timeout(20_000);
  let dir: string;
  const chat = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: `q${i}` }, { role: 'assistant', content: `a${i}` }] });
  beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-plan-')); });
  afterEach(async () => { await fs.rm(dir, { recursive: true, force: true }); });

  it('lists each file with bytes, lines, examples and tokens; prices Fireworks from the table; the consent summary has the same files', async () => {
    const train = path.join(dir, 'train.jsonl');
    const val = path.join(dir, 'val.jsonl');
    await fs.writeFile(train, Array.from({ length: 12 }, (_, i) => chat(i)).join('\n') + '\n');
    await fs.writeFile(val, Array.from({ length: 3 }, (_, i) => chat(i)).join('\n') + '\n');
    const plan = await buildFinetunePlan({ provider: 'fireworks', model: 'accounts/fireworks/models/qwen2p5-7b-instruct', trainingFile: train, validationFile: val, epochs: 2, accountId: 'acme' });
    assert.equal(plan.ok, true);
    assert.deepEqual(plan.files.map((f) => [f.role, f.lines, f.examples, f.bytes]), [
      ['training', 12, 12, (await fs.stat(train)).size], ['validation', 3, 3, (await fs.stat(val)).size],
    ]);
    assert.equal(plan.files[0]!.tokensExact, false, 'no Qwen tokenizer shipped: an estimate, and marked as one');
    assert.equal(plan.cost.pricePerMillion, 0.5);
    assert.equal(plan.cost.billedTokens, plan.files[0]!.tokens * 2);
    assert.match(plan.destination, /Fireworks .* account acme/);
    const summary = finetuneConsentSummary(plan, dir);
    assert.equal(summary.totalFiles, 2);
    assert.equal(summary.totalBytes, plan.totalBytes);
    assert.match(finetunePlanText(plan), /training: .*train\.jsonl — .*12 lines, 12 examples \(chat\), \d+ tokens \(estimate\)/);
  });

  it('estimateTokens: a Llama 3 model is counted with the fast estimate when asked, and says so', async () => {
    const train = path.join(dir, 'train.jsonl');
    await fs.writeFile(train, Array.from({ length: 4 }, (_, i) => chat(i)).join('\n') + '\n');
    const plan = await buildFinetunePlan({ provider: 'together', model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference', trainingFile: train }, { estimateTokens: true });
    assert.equal(plan.files[0]!.tokensExact, false);
    assert.match(plan.tokenMethod, /^estimate/);
    assert.ok(plan.files[0]!.tokens > 0);
  });

  it('a bad line makes the plan not ok, and assertPlanValid names the line and field', async () => {
    const train = path.join(dir, 'train.jsonl');
    await fs.writeFile(train, [chat(1), '{"prompt": "x", "completion": 3}', chat(2)].join('\n') + '\n');
    const plan = await buildFinetunePlan({ provider: 'together', model: 'Qwen/Qwen2.5-7B-Instruct', trainingFile: train });
    assert.equal(plan.ok, false);
    assert.throws(() => assertPlanValid(plan), (e: Error) => e instanceof DatasetInvalidError && /train\.jsonl:2/.test(e.message));
  });

  it('resubmit: a failed Together job continues from its checkpoint; a succeeded one is submitted again as it was', () => {
    const job = (status: Job['status']): Job => ({
      id: 'j1', name: 'ft', provider: 'together', providerJobId: 'ft-abc', status, configPaths: {}, createdAt: '', updatedAt: '', progress: {}, outputs: [], metadata: {},
      submission: { options: { model: 'm', trainingFile: '/d/train.jsonl', epochs: 2 } },
    } as Job);
    const failed = resubmitFinetuneInput(job('failed'));
    assert.equal(failed.resumes, true);
    assert.equal(failed.options.fromCheckpoint, 'ft-abc');
    assert.equal(failed.options.epochs, 2);
    const ok = resubmitFinetuneInput(job('succeeded'));
    assert.equal(ok.resumes, false);
    assert.equal(ok.options.fromCheckpoint, undefined);
  });
});
