import assert from 'node:assert/strict';
import { validateDataset, jsonErrorColumn } from '../../../src/core/finetune/validate';
import { scanLines } from '../../../src/core/finetune/lines';
import { jsonErrorIndex } from '../../../src/core/finetune/json-error';
import { explainRecord } from '../../../src/core/finetune/explain';
import { claimedFormat, isValidRecord } from '../../../src/core/finetune/fast-check';
import type { DatasetFormat } from '../../../src/core/finetune/schemas';
import { GOOD, chat, tempDir } from './helpers';

describe('finetune: JSONL validation', () => {
  const t = tempDir();
  after(() => t.cleanup());

  const codes = async (content: string | Buffer, opts = {}) => {
    const r = await validateDataset(t.file(`f${Math.random().toString(36).slice(2)}.jsonl`, content), opts);
    return { r, got: r.diagnostics.map((d) => `${d.line}:${d.code}${d.field ? `@${d.field}` : ''}`) };
  };

  it('accepts a valid chat file and counts examples, lines and bytes', async () => {
    const body = `${GOOD}\n${chat(['system', 'Be brief.'], ['user', 'Q'], ['assistant', 'A'])}\n`;
    const { r } = await codes(body);
    assert.equal(r.ok, true);
    assert.equal(r.format, 'chat');
    assert.equal(r.examples, 2);
    assert.equal(r.lines, 2);
    assert.equal(r.bytes, Buffer.byteLength(body));
    assert.deepEqual(r.diagnostics, []);
  });

  it('detects instruction, preference and text formats', async () => {
    assert.equal((await codes('{"prompt":"2+2?","completion":"4"}\n')).r.format, 'instruction');
    const pref = JSON.stringify({ input: { messages: [{ role: 'user', content: 'Q' }] }, preferred_output: [{ role: 'assistant', content: 'good' }], non_preferred_output: [{ role: 'assistant', content: 'bad' }] });
    const p = await codes(`${pref}\n`);
    assert.equal(p.r.format, 'preference');
    assert.equal(p.r.ok, true);
    assert.equal((await codes('{"text":"free text"}\n')).r.format, 'text');
  });

  it('reports invalid JSON with its line and column', async () => {
    const { r, got } = await codes(`${GOOD}\n${GOOD}\n{"messages": [}\n`);
    assert.deepEqual(got, ['3:invalid-json']);
    assert.equal(r.diagnostics[0]!.column, 15);
    assert.equal(r.examples, 2);
  });

  it('names the field: unknown role, empty assistant turn, last message not assistant', async () => {
    const { got } = await codes([
      chat(['user', 'Hi'], ['bot', 'x'], ['assistant', 'ok']),
      chat(['user', 'Hi'], ['assistant', '   ']),
      chat(['system', 's'], ['user', 'Hi'], ['assistant', 'a'], ['user', 'more?']),
    ].join('\n'));
    assert.deepEqual(got, ['1:unknown-role@messages[1].role', '2:empty-assistant@messages[1].content', '3:last-not-assistant@messages[3].role']);
  });

  it('reports a missing or mistyped field by its path', async () => {
    const { got } = await codes('{"messages":[{"role":"user"},{"role":"assistant","content":"a"}]}\n{"prompt":"p","completion":3}\n{"prompt":"p"}\n');
    assert.deepEqual(got, ['1:invalid-field@messages[0].content', '2:invalid-field@completion', '3:missing-field@completion']);
  });

  it('reports mixed shapes against the line that set the format', async () => {
    const { r, got } = await codes(`${GOOD}\n{"prompt":"a","completion":"b"}\n${GOOD}\n`);
    assert.deepEqual(got, ['2:mixed-format']);
    assert.match(r.diagnostics[0]!.message, /instruction record in a chat file \(format set by line 1\)/);
    assert.equal(r.examples, 2);
  });

  it('a record with two formats\' keys, or none, is an error', async () => {
    const { got } = await codes(`{"messages":[],"text":"x"}\n{"foo":1}\n[1,2]\n`);
    assert.deepEqual(got, ['1:ambiguous-format', '2:unknown-format', '3:not-an-object']);
  });

  it('flags a UTF-8 BOM and still validates line 1', async () => {
    const { r, got } = await codes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${GOOD}\n`)]));
    assert.deepEqual(got, ['1:bom']);
    assert.equal(r.examples, 1);
  });

  it('flags empty lines but not the final newline; accepts CRLF', async () => {
    const crlf = await codes(`${GOOD}\r\n${GOOD}\r\n`);
    assert.equal(crlf.r.ok, true);
    assert.equal(crlf.r.examples, 2);
    const { got } = await codes(`${GOOD}\n\n${GOOD}\n  \r\n`);
    assert.deepEqual(got, ['2:empty-line', '4:empty-line']);
    assert.deepEqual((await codes('')).got, ['1:empty-file']);
  });

  it('caps diagnostics and counts the rest', async () => {
    const { r } = await codes('not json\n'.repeat(250), { maxDiagnostics: 100 });
    assert.equal(r.diagnostics.length, 100);
    assert.equal(r.diagnosticsOmitted, 150);
    assert.equal(r.errors, 250);
    assert.equal(r.diagnostics[99]!.line, 100);
  });

  it('decodes multi-byte characters cut by chunk boundaries, and CRLF split across chunks', async () => {
    const text = 'naïve café 東京 🦙🦙 データ';
    const body = `${chat(['user', text], ['assistant', text])}\r\n`.repeat(5);
    const file = t.file('mb.jsonl', body);
    for (const chunkSize of [1, 2, 3, 5, 7]) {
      const lines: string[] = [];
      const res = await scanLines(file, (l) => lines.push(l), { chunkSize });
      assert.equal(res.lines, 5, `chunk ${chunkSize}`);
      for (const l of lines) assert.equal((JSON.parse(l) as { messages: { content: string }[] }).messages[0]!.content, text);
      const r = await validateDataset(file, { chunkSize });
      assert.equal(r.ok, true, `chunk ${chunkSize}: ${JSON.stringify(r.diagnostics)}`);
      assert.equal(r.examples, 5);
    }
  });

  it('a last line without a newline is still a line', async () => {
    const { r } = await codes(`${GOOD}\n${GOOD}`);
    assert.equal(r.lines, 2);
    assert.equal(r.examples, 2);
  });

  it('stops with an AbortError when the signal fires, and reports progress', async () => {
    const file = t.file('big.jsonl', `${GOOD}\n`.repeat(2000));
    const ac = new AbortController();
    const seen: number[] = [];
    await assert.rejects(validateDataset(file, { chunkSize: 1024, signal: ac.signal, onProgress: (p) => { seen.push(p.bytesRead); ac.abort(); } }), { name: 'AbortError' });
    assert.ok(seen.length >= 1 && seen[0]! <= 1024 * 2);
    const progress: number[] = [];
    const r = await validateDataset(file, { chunkSize: 4096, onProgress: (p) => progress.push(p.bytesRead) });
    assert.equal(progress.at(-1), r.bytes);
  });

  it('the fast check and the zod schemas agree on every fixture', () => {
    const fixtures: [unknown, DatasetFormat, boolean][] = [
      [JSON.parse(GOOD), 'chat', true],
      [{ messages: [] }, 'chat', false],
      [{ messages: [{ role: 'assistant', content: 'a' }] }, 'chat', false],
      [{ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: null, tool_calls: [{ id: '1' }] }] }, 'chat', true],
      [{ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', tool_calls: [{ id: '1' }] }, { role: 'tool', content: '{}', tool_call_id: '1' }, { role: 'assistant', content: 'done' }] }, 'chat', true],
      [{ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: '' }] }, 'chat', false],
      [{ messages: [{ role: 'user', content: 5 }, { role: 'assistant', content: 'a' }] }, 'chat', false],
      [{ prompt: 'p', completion: 'c' }, 'instruction', true],
      [{ prompt: 'p', completion: ' ' }, 'instruction', false],
      [{ input: { messages: [{ role: 'user', content: 'q' }] }, preferred_output: [{ role: 'assistant', content: 'a' }], non_preferred_output: [{ role: 'assistant', content: 'b' }] }, 'preference', true],
      [{ input: { messages: [{ role: 'user', content: 'q' }] }, preferred_output: [{ role: 'user', content: 'a' }], non_preferred_output: [{ role: 'assistant', content: 'b' }] }, 'preference', false],
      [{ input: { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'x' }] }, preferred_output: [{ role: 'assistant', content: 'a' }], non_preferred_output: [{ role: 'assistant', content: 'b' }] }, 'preference', false],
      [{ text: '' }, 'text', false],
    ];
    for (const [rec, format, valid] of fixtures) {
      assert.equal(claimedFormat(rec as Record<string, unknown>), format);
      assert.equal(isValidRecord(rec as Record<string, unknown>, format), valid, JSON.stringify(rec));
      assert.equal(explainRecord(rec, format).length === 0, valid, `zod: ${JSON.stringify(rec)}`);
    }
  });

  it('reads the column from both V8 JSON error styles', () => {
    assert.equal(jsonErrorColumn('Unexpected token } in JSON at position 12', '{}'), 13);
    assert.equal(jsonErrorColumn('Expected \',\' or \'}\' after property value in JSON at position 9 (line 1 column 10)', '{}'), 10);
    assert.equal(jsonErrorColumn('Unexpected end of JSON input', '{"a":'), 6);
  });
});

describe('finetune: JSON error column', () => {
  // jsonErrorIndex must agree with JSON.parse on validity, and point at the offending character.
  it('finds the first syntax error', () => {
    const cases: [string, number][] = [
      ['{"a":1}', -1], ['{"a": [1, 2, {"b": null}], "c": "x\\u00e9\\n"}', -1], ['  [true,false] ', -1],
      ['{"messages": [}', 14], ['{"a":1,}', 7], ['{"a" 1}', 5], ['{"a":tru}', 8], ['{"a":"x', 7], ['{"a":1}}', 7],
      ['{"a":01}', 6], ['{\'a\':1}', 1], ['{"a":"\\q"}', 7], ['', 0],
    ];
    for (const [s, at] of cases) {
      let parses = true;
      try { JSON.parse(s); } catch { parses = false; }
      assert.equal(jsonErrorIndex(s) === -1, parses, s);
      assert.equal(jsonErrorIndex(s), at, s);
    }
  });
});

describe('finetune: oversized lines', () => {
  const t = tempDir();
  after(() => t.cleanup());
  it('a line longer than maxLineBytes is reported and skipped, not buffered; the next lines still count', async () => {
    const huge = chat(['user', 'x'.repeat(5000)], ['assistant', 'y']);
    const file = t.file('huge.jsonl', `${GOOD}\n${huge}\r\n${GOOD}\n${huge}`);
    for (const chunkSize of [64, 1000, 1 << 20]) {
      const r = await validateDataset(file, { chunkSize, maxLineBytes: 1000 });
      assert.deepEqual(r.diagnostics.map((d) => `${d.line}:${d.code}`), ['2:line-too-large', '4:line-too-large'], `chunk ${chunkSize}`);
      assert.match(r.diagnostics[0]!.message, new RegExp(`line of ${Buffer.byteLength(huge) + 2} bytes`));
      assert.equal(r.examples, 2);
      assert.equal(r.lines, 4);
    }
  });
});
