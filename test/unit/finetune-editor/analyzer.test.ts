import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { DatasetAnalyzer, analyseDataset, workerRunner, type DatasetAnalysis } from '../../../src/core/finetune/analyzer';
import path from 'node:path';
import { scanLines, scanText } from '../../../src/core/finetune/lines';
import { chat, GOOD, tempDir } from '../finetune/helpers';

const LLAMA = 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference';

describe('DatasetAnalyzer: validation off the typing path (debounced, cancelled by a newer edit, streamed)', function () {
  this.timeout(60_000);
  const t = tempDir();
  after(() => t.cleanup());

  it('an unsaved document\'s text gives the same lines, diagnostics and tokens as the same bytes on disk', async () => {
    const text = `${GOOD}\n{"messages": oops}\r\n${chat(['user', 'u'], ['wizard', 'w'], ['assistant', 'a'])}\n${GOOD}`;
    const file = t.file('same.jsonl', text);
    const disk = await analyseDataset({ file, version: 1, model: LLAMA });
    const open = await analyseDataset({ file: '/not/on/disk.jsonl', text, version: 2, model: LLAMA });
    assert.deepEqual(open.diagnostics, disk.diagnostics);
    assert.equal(open.examples, 2);
    assert.equal(open.lines, 4);
    assert.deepEqual(open.tokens, disk.tokens);
    assert.equal(open.tokens.exact, true, 'Llama 3 models are counted with the real tokenizer');
    assert.deepEqual(disk.diagnostics.map((d) => [d.line, d.code]), [[2, 'invalid-json'], [3, 'unknown-role']]);
  });

  it('scanText splits like scanLines (CRLF, last line without newline, empty lines)', async () => {
    const text = 'a\r\nb\n\nc';
    const file = t.file('split.jsonl', text);
    const fromDisk: [string, number][] = [];
    const fromText: [string, number][] = [];
    await scanLines(file, (s, n) => fromDisk.push([s, n]));
    await scanText(text, (s, n) => fromText.push([s, n]), { yieldEvery: 2 });
    assert.deepEqual(fromText, fromDisk);
  });

  it('an example longer than the model\'s context is an error on its line; unknown families are counted as an estimate', async () => {
    const long = chat(['user', 'word '.repeat(40_000)], ['assistant', 'ok']);
    const file = t.file('long.jsonl', `${GOOD}\n${long}\n`);
    const r = await analyseDataset({ file, version: 1, model: 'meta-llama/Meta-Llama-3-8B-Instruct' }); // 8K context
    assert.deepEqual(r.diagnostics.map((d) => [d.line, d.code]), [[2, 'too-long']]);
    assert.equal(r.tokens.contextLength, 8192);
    const est = await analyseDataset({ file, version: 1, model: 'Qwen/Qwen2.5-7B-Instruct' });
    assert.equal(est.tokens.exact, false);
    assert.match(est.tokens.method, /estimate/);
  });

  it('a file above the exact-count size is counted with the estimate, and says so', async () => {
    const file = t.file('big-enough.jsonl', `${GOOD}\n`.repeat(10));
    const r = await analyseDataset({ file, version: 1, model: LLAMA }, undefined, 100);
    assert.equal(r.tokens.exact, false);
    assert.match(r.tokens.method, /estimate.*large file/);
    assert.equal(r.examples, 10);
  });

  it('counting a 2 MB dataset with the real tokenizer never holds the event loop for long (16 KiB between yields)', async () => {
    const { monitorEventLoopDelay } = await import('node:perf_hooks');
    const long = chat(['system', 'You are terse.'], ['user', 'Explain the water cycle in detail, please. '.repeat(20)], ['assistant', 'Evaporation, condensation, precipitation, collection. '.repeat(20)]);
    const file = t.file('two-mb.jsonl', `${long}\n`.repeat(Math.ceil(2_000_000 / long.length)));
    await analyseDataset({ file: t.file('warm.jsonl', GOOD), version: 0, model: LLAMA }); // the tokenizer loads once
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const r = await analyseDataset({ file, version: 1, model: LLAMA });
    h.disable();
    assert.equal(r.tokens.exact, true);
    const maxMs = h.max / 1e6;
    console.log(`      ${r.tokens.total} tokens; longest event-loop stall ${maxMs.toFixed(0)} ms`);
    assert.ok(maxMs < 1000, `longest stall ${maxMs} ms`);
  });

  it('in a worker thread: the same result as in this thread, and a cancel reaches the worker', async () => {
    const worker = workerRunner(path.resolve(__dirname, '../../../src/core/finetune/analysis-worker.ts'), { execArgv: ['--require', 'tsx/cjs'] });
    try {
      const text = `${GOOD}\n{"messages": oops}\n${GOOD}`;
      const file = t.file('worker.jsonl', text);
      const here = await analyseDataset({ file, version: 1, model: LLAMA });
      const there = await worker({ file, version: 1, model: LLAMA }, new AbortController().signal);
      assert.deepEqual(there, here);
      const dirty = await worker({ file, text: `${GOOD}\n`, version: 2, model: LLAMA }, new AbortController().signal);
      assert.equal(dirty.examples, 1);
      const ac = new AbortController();
      const big = t.file('worker-big.jsonl', `${GOOD}\n`.repeat(200_000));
      const running = worker({ file: big, version: 3 }, ac.signal);
      setTimeout(() => ac.abort(), 20);
      await assert.rejects(running, { name: 'AbortError' });
      // The worker is still there for the next run.
      assert.equal((await worker({ file, version: 4 }, new AbortController().signal)).examples, 2);
      // Through the analyzer, as the editor uses it.
      const results: DatasetAnalysis[] = [];
      const a = new DatasetAnalyzer({ debounceMs: 0, run: worker, onResult: (r) => results.push(r) });
      assert.equal((await a.request({ file, version: 5 }, 0))?.examples, 2);
      a.dispose();
    } finally {
      worker.dispose();
    }
  });

  it('edits in quick succession: one analysis, of the last version', async () => {
    const results: DatasetAnalysis[] = [];
    const a = new DatasetAnalyzer({ debounceMs: 50, onResult: (r) => results.push(r) });
    const file = '/virtual/doc.jsonl';
    const runs = [1, 2, 3].map((v) => a.request({ file, text: `${GOOD}\n`.repeat(v), version: v }));
    const settled = await Promise.all(runs);
    assert.deepEqual(settled.map((r) => r?.version), [undefined, undefined, 3]);
    assert.deepEqual(results.map((r) => [r.version, r.examples]), [[3, 3]]);
    assert.equal(a.result(file, 3)?.examples, 3);
    assert.equal(a.result(file, 2), undefined);
    a.dispose();
  });

  it('a newer edit cancels a running analysis of a large file: its read stops, no stale result is delivered', async () => {
    const file = `${t.dir}/large.jsonl`;
    await new Promise<void>((resolve, reject) => {
      const w = createWriteStream(file);
      const block = `${GOOD}\n`.repeat(10_000);
      for (let i = 0; i < 40; i++) w.write(block); // ~20 MB
      w.end(resolve);
      w.on('error', reject);
    });
    const results: DatasetAnalysis[] = [];
    const a = new DatasetAnalyzer({ debounceMs: 0, onResult: (r) => results.push(r) });
    const first = a.request({ file, version: 1 }, 0);
    await new Promise((r) => setTimeout(r, 30)); // running now
    assert.equal(a.busy(file), true);
    // The event loop stays free while it runs: a timer fires on time.
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    assert.ok(Date.now() - t0 < 1000, 'the analysis yields between chunks');
    const second = a.request({ file, text: `${GOOD}\n`, version: 2 }, 0);
    assert.equal(await first, undefined);
    assert.equal((await second)?.examples, 1);
    assert.deepEqual(results.map((r) => r.version), [2]);
    a.dispose();
  });
});
