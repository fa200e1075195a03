import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../../src/cli/main';
import { capturedIo } from '../../support/captured-io';
import { GOOD, chat, tempDir } from './helpers';

describe('cloudtrain validate / estimate on a fine-tune JSONL', () => {
  const t = tempDir();
  after(() => t.cleanup());
  const cli = async (argv: string[]) => {
    const io = capturedIo({ env: { PATH: process.env.PATH }, cwd: t.dir, dataHome: path.join(t.dir, 'home') });
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  };
  const MODEL = 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference';

  it('OK with examples, format and exact tokens (exit 0)', async () => {
    t.file('train.jsonl', `${GOOD}\n`.repeat(3));
    const r = await cli(['validate', 'train.jsonl', '--model', MODEL]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^OK: train\.jsonl · 3 examples · chat format · 42 tokens$/m);
    assert.match(r.out, /Tokens: Llama 3 tokenizer/);
    const q = await cli(['validate', 'train.jsonl', '--model', 'Qwen/Qwen2.5-7B']);
    assert.match(q.out, /tokens \(estimate\)/);
  });

  it('prints file:line:col diagnostics and exits 1; --json has the same facts', async () => {
    t.file('bad.jsonl', `${GOOD}\n{"messages": [}\n${chat(['user', 'x'], ['assistant', 'This is a test sentence. '.repeat(10)])}\n`);
    const r = await cli(['validate', 'bad.jsonl', '--model', MODEL, '--context-length', '20']);
    assert.equal(r.code, 1);
    assert.match(r.out, /^bad\.jsonl:2:15: error: invalid JSON: .* \[invalid-json\]$/m);
    assert.match(r.out, /^bad\.jsonl:3:1: error: example is \d+ tokens, longer than the context length 20 \[too-long\]$/m);
    assert.match(r.out, /^2 errors · 2 examples · chat format/m);
    const j = await cli(['validate', 'bad.jsonl', '--json']);
    assert.equal(j.code, 1);
    const body = JSON.parse(j.out);
    assert.equal(body.ok, false);
    assert.equal(body.format, 'chat');
    assert.equal(body.examples, 2);
    assert.equal(body.tokens, null);
    assert.deepEqual(body.diagnostics.map((d: { line: number; column: number; code: string }) => [d.line, d.column, d.code]), [[2, 15, 'invalid-json']]);
  });

  it('estimate --dataset prices tokens × epochs on Fireworks and says when the price is unknown', async () => {
    t.file('e.jsonl', `${GOOD}\n`.repeat(10));
    const r = await cli(['estimate', '--dataset', 'e.jsonl', '--provider', 'fireworks', '--model', 'accounts/fireworks/models/llama-v3p1-8b-instruct', '--epochs', '3', '--json']);
    assert.equal(r.code, 0, r.err);
    const body = JSON.parse(r.out);
    assert.equal(body.tokens.training, 140);
    assert.equal(body.tokens.exact, true);
    assert.equal(body.cost.billedTokens, 420);
    assert.equal(body.cost.pricePerMillion, 0.5);
    const tg = await cli(['estimate', '--dataset', 'e.jsonl', '--provider', 'together', '--model', MODEL]);
    assert.equal(tg.code, 0, tg.err);
    assert.match(tg.out, /Cost: unknown — no published sft-lora price for up to 16B on together/);
    assert.match(tg.out, /Prices checked \d{4}-\d{2}-\d{2}/);
    const bad = await cli(['estimate', '--dataset', 'e.jsonl', '--provider', 'replicate', '--model', MODEL]);
    assert.equal(bad.code, 2);
  });
});

describe('cloudtrain validate on a config keeps its output', () => {
  it('--json on a dataloader config still has { ok, files, diagnostics }', async () => {
    const example = path.resolve(__dirname, '../../../examples/simpletuner-demo');
    const io = capturedIo({ env: { PATH: process.env.PATH }, cwd: example, dataHome: path.join(os.tmpdir(), 'ft-cli-unused') });
    const code = await main(['validate', 'config/multidatabackend.json', '--json'], io);
    const body = JSON.parse(io.out());
    assert.deepEqual(Object.keys(body), ['ok', 'files', 'diagnostics']);
    assert.equal(code, body.ok ? 0 : 1);
  });
});
