import assert from 'node:assert/strict';
import { ESTIMATE_BYTES_PER_TOKEN, TEMPLATE_TOKENS_PER_EXAMPLE, TEMPLATE_TOKENS_PER_MESSAGE, estimateCounter, llama3Counter, tokenCounterFor } from '../../../src/core/finetune/tokenizers';
import { countDatasetTokens, recordTokens } from '../../../src/core/finetune/tokens';
import { modelInfo } from '../../../src/core/finetune/models';
import { GOOD, chat, tempDir } from './helpers';

describe('finetune: token counting', () => {
  const t = tempDir();
  after(() => t.cleanup());

  it('counts Llama 3 tokens exactly, matching the tokenizer\'s own documented examples', () => {
    const c = tokenCounterFor('meta-llama/Meta-Llama-3.1-8B-Instruct-Reference');
    assert.equal(c.exact, true);
    assert.equal(c.family, 'llama3');
    // llama3-tokenizer-js's test suite: 'This is a test sentence.' → [2028, 374, 264, 1296, 11914, 13].
    assert.equal(c.count('This is a test sentence.'), 6);
    // Its README: "Hello world!" is 5 tokens with <|begin_of_text|> and <|end_of_text|>, so 3 without.
    assert.equal(c.count('Hello world!'), 3);
    // Its test suite: '🦙' → [9468, 99, 247]; '\n' → [198].
    assert.equal(c.count('🦙'), 3);
    assert.equal(c.count('\n'), 1);
    assert.equal(c.count(''), 0);
    assert.equal(tokenCounterFor('accounts/fireworks/models/llama-v3p1-70b-instruct').exact, true);
  });

  it('families without a shipped tokenizer get an estimate, flagged as one', () => {
    for (const model of ['Qwen/Qwen2.5-7B-Instruct', 'mistralai/Mistral-7B-v0.1', 'google/gemma-3-27b-it', 'some/unknown']) {
      const c = tokenCounterFor(model);
      assert.equal(c.exact, false, model);
      assert.match(c.method, /^estimate: UTF-8 bytes \/ 3\.6/);
    }
    const e = estimateCounter();
    assert.equal(e.count('abcdefg'), Math.ceil(7 / ESTIMATE_BYTES_PER_TOKEN));
    assert.equal(e.count('東京'), Math.ceil(6 / ESTIMATE_BYTES_PER_TOKEN)); // bytes, not characters
    assert.equal(tokenCounterFor(undefined).exact, false);
  });

  it('adds the documented chat template overhead per message and per example', () => {
    const c = llama3Counter();
    const rec = JSON.parse(chat(['system', 'This is a test sentence.'], ['user', 'Hello world!'], ['assistant', 'This is a test sentence.'])) as Record<string, unknown>;
    assert.equal(recordTokens(rec, c), TEMPLATE_TOKENS_PER_EXAMPLE + (6 + 3 + 6) + 3 * TEMPLATE_TOKENS_PER_MESSAGE);
    assert.equal(recordTokens({ prompt: 'This is a test sentence.', completion: 'Hello world!' }, c), TEMPLATE_TOKENS_PER_EXAMPLE + 1 + 6 + 3);
    // DPO: the prompt is processed with each answer, so it counts twice.
    const pref = { input: { messages: [{ role: 'user', content: 'Hello world!' }] }, preferred_output: [{ role: 'assistant', content: 'This is a test sentence.' }], non_preferred_output: [{ role: 'assistant', content: 'Hello world!' }] };
    const input = TEMPLATE_TOKENS_PER_EXAMPLE + 3 + TEMPLATE_TOKENS_PER_MESSAGE;
    assert.equal(recordTokens(pref, c), 2 * input + (6 + TEMPLATE_TOKENS_PER_MESSAGE) + (3 + TEMPLATE_TOKENS_PER_MESSAGE));
  });

  it('streams a file: totals, skips invalid lines and other formats, flags examples longer than the context', async () => {
    const long = chat(['user', 'This is a test sentence. '.repeat(20)], ['assistant', 'Hello world!']);
    const file = t.file('t.jsonl', `${GOOD}\nnot json\n{"prompt":"a","completion":"b"}\n${long}\n`);
    const c = llama3Counter();
    const one = recordTokens(JSON.parse(GOOD) as Record<string, unknown>, c);
    const two = recordTokens(JSON.parse(long) as Record<string, unknown>, c);
    const r = await countDatasetTokens(file, c, { contextLength: 50, chunkSize: 16 });
    assert.equal(r.examples, 2);
    assert.equal(r.tokens, one + two);
    assert.equal(r.exact, true);
    assert.equal(r.maxExampleTokens, two);
    assert.deepEqual(r.diagnostics.map((d) => `${d.line}:${d.code}`), ['4:too-long']);
    assert.match(r.diagnostics[0]!.message, new RegExp(`example is ${two} tokens, longer than the context length 50`));
    const est = await countDatasetTokens(file, estimateCounter(), { contextLength: 50 });
    assert.equal(est.exact, false);
    assert.match(est.diagnostics[0]!.message, /~\d+ tokens.*\(estimate\)/);
  });

  it('reads family, size and context from model names', () => {
    assert.deepEqual(modelInfo('meta-llama/Meta-Llama-3.1-8B-Instruct-Reference'), { model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference', family: 'llama3', paramsB: 8, moe: false, contextLength: 131072 });
    assert.equal(modelInfo('accounts/fireworks/models/llama-v3p1-70b-instruct').paramsB, 70);
    assert.equal(modelInfo('meta-llama/Meta-Llama-3-8B').contextLength, 8192);
    assert.deepEqual([modelInfo('mistralai/Mixtral-8x7B-Instruct-v0.1').paramsB, modelInfo('mistralai/Mixtral-8x7B-Instruct-v0.1').moe], [56, true]);
    assert.deepEqual([modelInfo('Qwen/Qwen3-30B-A3B').paramsB, modelInfo('Qwen/Qwen3-30B-A3B').moe], [30, true]);
    assert.equal(modelInfo('qwen2p5-0p5b-instruct').paramsB, 0.5);
    assert.equal(modelInfo('gpt2').paramsB, undefined);
  });
});
