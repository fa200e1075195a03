import assert from 'node:assert/strict';
import { isFinetuneDatasetFile, looksLikeFinetuneDataset, sniffFinetuneFormat } from '../../../src/core/finetune/detect';
import { diagnosticSpan, WHOLE_LINE } from '../../../src/core/finetune/span';
import { compactCount, datasetLensTitle } from '../../../src/core/finetune/summary';
import { jobWebUrl } from '../../../src/core/finetune/web-url';
import { validateDataset } from '../../../src/core/finetune/validate';
import { chat, GOOD, tempDir } from '../finetune/helpers';

describe('fine-tune datasets in the editor: which JSONL files get lenses and diagnostics', () => {
  const t = tempDir();
  after(() => t.cleanup());

  it('chat, prompt/completion and preference records make a dataset; their format is named', () => {
    assert.equal(sniffFinetuneFormat(`${GOOD}\n${GOOD}\n`).format, 'chat');
    assert.equal(sniffFinetuneFormat('{"prompt":"2+2","completion":"4"}\n').format, 'instruction');
    const pref = JSON.stringify({ input: { messages: [{ role: 'user', content: 'q' }] }, preferred_output: [{ role: 'assistant', content: 'a' }], non_preferred_output: [{ role: 'assistant', content: 'b' }] });
    assert.equal(sniffFinetuneFormat(pref).format, 'preference');
    assert.equal(sniffFinetuneFormat('{"text":"hello"}').format, 'text');
  });

  it('other JSONL (logs, events, a record with a text field among many) is not a dataset', () => {
    assert.equal(looksLikeFinetuneDataset('{"level":"info","time":1,"msg":"x"}\n{"level":"warn","time":2,"msg":"y"}\n'), false);
    assert.equal(looksLikeFinetuneDataset('{"level":"info","text":"x","time":1,"host":"a"}\n'), false);
    assert.equal(looksLikeFinetuneDataset(''), false);
    assert.equal(looksLikeFinetuneDataset('not json at all\n'), false);
  });

  it('a broken first line, a BOM, CRLF or a record claiming two formats still make a dataset (validation explains them)', () => {
    assert.equal(sniffFinetuneFormat(`{"messages": [ oops\n${GOOD}\n`).format, 'chat');
    assert.equal(sniffFinetuneFormat(`\uFEFF${GOOD}\r\n${GOOD}\r\n`).format, 'chat');
    assert.equal(looksLikeFinetuneDataset('{"messages":[],"prompt":"x"}\n'), true);
  });

  it('a first record longer than the sniff window is recognised by its first key', () => {
    const head = `{"messages":[{"role":"user","content":"${'x'.repeat(100)}`; // cut mid-record
    assert.equal(sniffFinetuneFormat(head).format, 'chat');
  });

  it('files on disk: only .jsonl, and only the start is read', async () => {
    const big = t.file('big.jsonl', `${GOOD}\n`.repeat(50_000)); // ~2.5 MB, larger than the sniff window
    assert.equal(await isFinetuneDatasetFile(big), true);
    assert.equal(await isFinetuneDatasetFile(t.file('data.json', GOOD)), false);
    assert.equal(await isFinetuneDatasetFile(t.file('events.jsonl', '{"event":"x"}\n')), false);
    assert.equal(await isFinetuneDatasetFile('/nonexistent/x.jsonl'), false);
  });
});

describe('fine-tune diagnostics: ranges on the line from the validator\'s errors', () => {
  const t = tempDir();
  after(() => t.cleanup());

  it('invalid JSON on line N: from the parser column to the end of that line', async () => {
    const bad = '{"messages": [{"role": "user", "content": "hi"}, }';
    const f = t.file('bad.jsonl', `${GOOD}\n${GOOD}\n${bad}\n`);
    const v = await validateDataset(f);
    const d = v.diagnostics[0]!;
    assert.equal(d.line, 3);
    const span = diagnosticSpan(d, bad);
    assert.equal(span.line, 2);
    assert.equal(span.end, bad.length);
    assert.ok(span.start > 0 && span.start < bad.length, `column ${span.start}`);
  });

  it('an unknown role points at that message\'s "role" key; an empty assistant turn at its "content"', async () => {
    const line = chat(['system', 's'], ['user', 'u'], ['robot', 'x'], ['assistant', 'a']);
    const empty = chat(['user', 'u'], ['assistant', '  ']);
    const f = t.file('roles.jsonl', `${line}\n${empty}\n`);
    const v = await validateDataset(f);
    const role = v.diagnostics.find((d) => d.code === 'unknown-role')!;
    assert.equal(role.field, 'messages[2].role');
    const s = diagnosticSpan(role, line);
    assert.equal(line.slice(s.start, s.end), '"role"');
    // The third "role" key of the line: the robot's.
    assert.equal(s.start, line.indexOf('"role"', line.indexOf('"role"', line.indexOf('"role"') + 1) + 1));
    const e = v.diagnostics.find((d) => d.code === 'empty-assistant')!;
    const es = diagnosticSpan(e, empty);
    assert.equal(empty.slice(es.start, es.end), '"content"');
    assert.equal(es.start, empty.lastIndexOf('"content"'));
  });

  it('a BOM marks the first character; CRLF lines are fine', async () => {
    const f = t.file('bom.jsonl', `\uFEFF${GOOD}\r\n${GOOD}\r\n`);
    const v = await validateDataset(f);
    assert.deepEqual(v.diagnostics.map((d) => d.code), ['bom']);
    assert.deepEqual(diagnosticSpan(v.diagnostics[0]!, `\uFEFF${GOOD}`), { line: 0, start: 0, end: 1 });
    const crlf = await validateDataset(t.file('crlf.jsonl', `${GOOD}\r\n${GOOD}\r\n`));
    assert.equal(crlf.ok, true);
  });

  it('without the line text (file not open) the range spans the line and the editor clamps it', () => {
    assert.deepEqual(diagnosticSpan({ severity: 'error', line: 8213, code: 'invalid-json', column: 5, message: 'x' }), { line: 8212, start: 4, end: WHOLE_LINE });
    assert.deepEqual(diagnosticSpan({ severity: 'error', line: 2, code: 'mixed-format', message: 'x' }, '  {"prompt":"a"}'), { line: 1, start: 2, end: 16 });
  });
});

describe('fine-tune CodeLens title', () => {
  it('examples · tokens · format, the estimate said so, errors counted', () => {
    assert.equal(datasetLensTitle({ examples: 12480, format: 'chat', errors: 0, tokens: { total: 3_100_000, exact: true } }), '12,480 examples · 3.1 M tokens · chat format');
    assert.equal(datasetLensTitle({ examples: 1, format: 'instruction', errors: 2, tokens: { total: 950, exact: false } }),
      '1 example · ~950 tokens (estimate) · prompt/completion format · $(error) 2 errors');
    assert.match(datasetLensTitle({ examples: 3, errors: 0 }), /counting tokens…/);
    assert.equal(compactCount(812_345), '812 K');
  });
});

describe('Open on provider website for fine-tune jobs', () => {
  it('uses the recorded URL, else the provider\'s job page (jobs submitted from the CLI too)', () => {
    const base = { id: 'j', name: 'n', status: 'running', createdAt: '', updatedAt: '', configPaths: {}, progress: {}, outputs: [] } as const;
    assert.equal(jobWebUrl({ ...base, provider: 'together', providerJobId: 'ft-123', metadata: {} } as never), 'https://api.together.ai/fine-tuning/ft-123');
    assert.equal(jobWebUrl({ ...base, provider: 'fireworks', providerJobId: 'accounts/acme/supervisedFineTuningJobs/ct-1', metadata: {} } as never), 'https://app.fireworks.ai/dashboard/fine-tuning/supervised/ct-1');
    assert.equal(jobWebUrl({ ...base, provider: 'replicate', providerJobId: 'x', metadata: { webUrl: 'https://replicate.com/p/x' } } as never), 'https://replicate.com/p/x');
    assert.equal(jobWebUrl({ ...base, provider: 'local', metadata: {} } as never), undefined);
  });
});
