import assert from 'node:assert/strict';
import { FINETUNE_PRICES, FinetunePriceTableSchema, finetuneCost } from '../../../src/core/finetune/cost';

describe('finetune: price table and cost', () => {
  it('every provider has a checked date, a source URL and notes', () => {
    for (const [id, p] of Object.entries(FINETUNE_PRICES.providers)) {
      assert.match(p.checkedAt, /^\d{4}-\d{2}-\d{2}$/, id);
      assert.match(p.source, /https:\/\//, id);
      assert.ok(p.notes.length > 40, id);
    }
  });

  it('Fireworks LoRA SFT: tokens × epochs × the band price; validation not billed', () => {
    const c = finetuneCost({ provider: 'fireworks', model: 'accounts/fireworks/models/llama-v3p1-8b-instruct', trainingTokens: 3_100_000, epochs: 3, validationTokens: 500_000, evaluations: 4 });
    assert.equal(c.band, 'up to 16B');
    assert.equal(c.pricePerMillion, 0.5);
    assert.equal(c.billedTokens, 9_300_000);
    assert.equal(c.cost, 4.65);
    assert.ok(c.assumptions.some((a) => /does not state a charge for validation/.test(a)));
    assert.equal(finetuneCost({ provider: 'fireworks', model: 'llama-v3p1-70b-instruct', trainingTokens: 2_000_000 }).cost, 6);
    assert.equal(finetuneCost({ provider: 'fireworks', model: 'mistralai/Mixtral-8x7B-Instruct-v0.1', trainingTokens: 1_000_000 }).cost, 2);
  });

  it('Together bills validation tokens × evaluations; its unknown rates give an unknown cost, never $0', () => {
    const c = finetuneCost({ provider: 'together', model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference', trainingTokens: 1_000_000, epochs: 2, validationTokens: 100_000, evaluations: 3 });
    assert.equal(c.billedTokens, 2_300_000);
    assert.equal(c.band, 'up to 16B');
    assert.equal(c.pricePerMillion, null);
    assert.equal(c.cost, null);
    assert.ok(c.assumptions.some((a) => /no published sft-lora rate/.test(a)));
  });

  it('prices from a table: method and LoRA/full pick the rate; estimates and unknown sizes are stated', () => {
    const table = FinetunePriceTableSchema.parse({ providers: { together: { checkedAt: '2026-01-01', source: 'https://x', chargesValidation: true, notes: 'test',
      bands: [{ label: 'small', maxParamsB: 16, perMillion: { 'sft-lora': 0.48, 'sft-full': 0.54, 'dpo-lora': 1.2, 'dpo-full': 1.35 } }] } } });
    const base = { provider: 'together' as const, model: 'Qwen/Qwen2.5-7B', trainingTokens: 1_000_000 };
    assert.equal(finetuneCost(base, table).cost, 0.48);
    assert.equal(finetuneCost({ ...base, lora: false }, table).cost, 0.54);
    assert.equal(finetuneCost({ ...base, method: 'dpo' }, table).cost, 1.2);
    assert.equal(finetuneCost({ ...base, method: 'dpo', lora: false, validationTokens: 1_000_000, evaluations: 1 }, table).cost, 2.7);
    assert.ok(finetuneCost({ ...base, tokensEstimated: true }, table).assumptions.some((a) => /estimate/.test(a)));
    const noSize = finetuneCost({ ...base, model: 'my-model' }, table);
    assert.equal(noSize.cost, null);
    assert.ok(noSize.assumptions.some((a) => /size is not in its name/.test(a)));
    assert.equal(finetuneCost({ ...base, model: 'Llama-3.1-405B' }, table).cost, null);
    assert.throws(() => finetuneCost({ ...base, epochs: 0 }, table));
  });
});
