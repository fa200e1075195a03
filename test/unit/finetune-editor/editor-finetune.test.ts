import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ExtensionServices } from '../../../src/vscode/services';
import { CostViewDataSchema, type ConsentViewData, type CostViewData } from '../../../webview/shared/protocol';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { FakeTogether } from '../../support/together-server/server';
import { chat, GOOD } from '../finetune/helpers';
import { harness, type Harness } from '../submit/fixtures';
import { documentEvents, FakeDocument, installVscodeShim, shim, Uri, type Page } from '../submit/vscode-shim';

installVscodeShim();
// Loaded after the shim so `import * as vscode from 'vscode'` resolves to it.
/* eslint-disable @typescript-eslint/no-require-imports */
const { registerFinetune } = require('../../../src/vscode/finetune/register') as typeof import('../../../src/vscode/finetune/register');
const { registerTogether, TOGETHER_KEY } = require('../../../src/vscode/together/register') as typeof import('../../../src/vscode/together/register');
const { registerFireworks } = require('../../../src/vscode/fireworks/register') as typeof import('../../../src/vscode/fireworks/register');
const { jobDescription } = require('../../../src/vscode/tree/job-presentation') as typeof import('../../../src/vscode/tree/job-presentation');
/* eslint-enable @typescript-eslint/no-require-imports */

const root = path.resolve(__dirname, '../../..');
const until = async <T>(f: () => T | undefined | false, what: string, ms = 10_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

class Memento {
  readonly values = new Map<string, unknown>();
  keys() { return [...this.values.keys()]; }
  get<T>(k: string, d?: T) { return (this.values.has(k) ? this.values.get(k) : d) as T | undefined; }
  async update(k: string, v: unknown) { this.values.set(k, v); }
}

/**
 * The editor side of a Together fine-tune with VS Code replaced by the shim: the real CodeLens and
 * diagnostics provider, the real Fine-tune… command, the real consent and cost panel hosts and page
 * clients, the real pipeline and history, and the real Together provider talking HTTP to the stand-in.
 */
describe('editor: fine-tune datasets (CodeLens, diagnostics) and Fine-tune… to Together', function () {
  this.timeout(60_000);
  let h: Harness;
  let services: ExtensionServices;
  let together: FakeTogether;
  let secrets: Map<string, string>;
  let logs: string[];
  let dataset: string;

  beforeEach(async () => {
    shim.reset();
    h = harness();
    together = new FakeTogether();
    await together.start();
    logs = [];
    secrets = new Map([[TOGETHER_KEY, together.apiKey]]);
    const log = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error'].map((l) => [l, (m: string) => logs.push(`${l}: ${m}`)]));
    services = {
      context: {
        subscriptions: [], extensionUri: Uri.file(root), globalState: new Memento(),
        secrets: { get: async (k: string) => secrets.get(k), store: async (k: string, v: string) => void secrets.set(k, v), delete: async (k: string) => void secrets.delete(k) },
      } as unknown as ExtensionServices['context'],
      history: h.history, layout: h.layout, providers: h.providers,
      log: log as unknown as ExtensionServices['log'],
    };
    shim.config['cloudTraining.together.baseUrl'] = together.base;
    mkdirSync(path.join(h.ws.workspace, 'data'), { recursive: true });
    dataset = path.join(h.ws.workspace, 'data', 'train.jsonl');
    writeFileSync(dataset, `${Array.from({ length: 12 }, (_, i) => chat(['system', 'Be brief.'], ['user', `Question ${i}?`], ['assistant', `Answer ${i}.`])).join('\n')}\n`);
    registerTogether(services);
    registerFireworks(services);
    registerFinetune(services);
  });
  afterEach(async () => {
    for (const d of (services.context.subscriptions as { dispose(): unknown }[])) d.dispose();
    shim.reset();
    await together.close();
    await h.dispose();
  });

  const lensesOf = (doc: FakeDocument) => shim.codeLensProviders.flatMap((p) => p.provideCodeLenses(doc));

  it('an open chat JSONL gets the lens "N examples · tokens · chat format · Estimate · Fine-tune…"; other JSONL gets none', async () => {
    const doc = new FakeDocument(Uri.file(dataset), readFileSync(dataset, 'utf8'));
    shim.documents.push(doc);
    documentEvents.open.fire(doc);
    const lenses = await until(() => { const l = lensesOf(doc); return /examples/.test(l[0]?.command?.title ?? '') && l; }, 'the lens');
    assert.equal(lenses[0]!.command!.title, `12 examples · ${lenses[0]!.command!.title.split(' · ')[1]} · chat format`);
    assert.match(lenses[0]!.command!.title, /^12 examples · \d+ tokens · chat format$/, 'Llama 3 counts exactly: no "estimate"');
    assert.deepEqual(lenses.slice(1).map((l) => [l.command!.title, l.command!.command]), [['$(graph) Estimate', 'cloudTraining.finetune.estimate'], ['$(rocket) Fine-tune…', 'cloudTraining.finetune']]);
    assert.equal(lenses[0]!.range.start.line, 0);

    const logFile = path.join(h.ws.workspace, 'data', 'events.jsonl');
    const other = new FakeDocument(Uri.file(logFile), '{"level":"info","msg":"started"}\n');
    assert.deepEqual(lensesOf(other), []);
  });

  it('unsaved edits are validated as typed (debounced): the error is on its line and field, and goes when fixed', async () => {
    const good = readFileSync(dataset, 'utf8');
    const doc = new FakeDocument(Uri.file(dataset), good);
    shim.documents.push(doc);
    documentEvents.open.fire(doc);
    await until(() => lensesOf(doc)[0]?.command?.title.includes('examples'), 'first analysis');
    assert.deepEqual(shim.diagnostics.get(dataset), []);
    // Line 3 gets an unknown role, line 5 broken JSON; the document is dirty (not saved).
    const lines = good.split('\n');
    lines[2] = chat(['user', 'hi'], ['bot', 'x'], ['assistant', 'y']);
    lines[4] = '{"messages": [';
    doc.text = lines.join('\n'); doc.version = 2; doc.isDirty = true;
    documentEvents.change.fire({ document: doc, contentChanges: [{}] });
    const diags = await until(() => (shim.diagnostics.get(dataset)?.length ?? 0) >= 2 && shim.diagnostics.get(dataset), 'diagnostics for the edit');
    assert.deepEqual(diags.map((d) => [d.range.start.line, d.code]), [[2, 'unknown-role'], [4, 'invalid-json']]);
    assert.equal(doc.getText().split('\n')[2]!.slice(diags[0]!.range.start.character, diags[0]!.range.end.character), '"role"');
    assert.match(lensesOf(doc)[0]!.command!.title, /\$\(error\) 2 errors/);
    doc.text = good; doc.version = 3;
    documentEvents.change.fire({ document: doc, contentChanges: [{}] });
    await until(() => shim.diagnostics.get(dataset)?.length === 0, 'diagnostics cleared');
  });

  it('Fine-tune… from the lens: consent lists the file with lines and size, cost shows tokens × epochs × price and its date, the job runs to succeeded', async () => {
    const seen: string[] = [];
    shim.autopilot = (page: Page) => {
      seen.push(page.view);
      if (page.view === 'consent') void page.client.request('consent.answer', { answer: 'once' });
      if (page.view === 'cost') void page.client.request('cost.confirm', { proceed: true });
    };
    const questions: string[] = [];
    shim.pick = (items, placeHolder) => {
      questions.push(placeHolder ?? '');
      if (/Which service/.test(placeHolder ?? '')) return items.find((i) => i.label === 'Together AI');
      if (/LoRA rank/.test(placeHolder ?? '')) return items.find((i) => i.label === '16');
      return items[0];
    };
    shim.inputBox = () => '2'; // epochs
    const id = await shim.commands.get('cloudTraining.finetune')!(Uri.file(dataset)) as string;
    assert.ok(id, `a job id (messages: ${JSON.stringify(shim.messages)}; log: ${logs.join(' | ')})`);
    assert.deepEqual(seen, ['consent', 'cost']);
    assert.equal(questions.length, 3, questions.join(' / ')); // provider, base model, LoRA rank

    const consent = shim.pages.find((p) => p.view === 'consent')!.data[0] as ConsentViewData;
    assert.equal(consent.summary.providerName, 'Together AI');
    assert.deepEqual(consent.summary.datasets.map((d) => [d.id, d.files, d.lines, d.bytes]), [['training: train.jsonl', 1, 12, readFileSync(dataset).length]]);
    assert.match(consent.summary.destination, /Together AI .*Meta-Llama-3\.1-8B/);

    const cost = CostViewDataSchema.parse(shim.pages.find((p) => p.view === 'cost')!.data[0]) as CostViewData;
    const ft = cost.finetune!;
    assert.equal(ft.epochs, 2);
    assert.equal(ft.tokensExact, true);
    assert.equal(ft.billedTokens, ft.files[0]!.tokens * 2, 'billed = tokens × epochs');
    // Together's per-token rates are not in the table (see finetune-prices.json notes): an unknown cost, never $0.
    assert.equal(ft.pricePerMillion, null);
    assert.equal(ft.cost, null);
    assert.equal(ft.band, 'up to 16B');
    assert.match(ft.checkedAt, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(cost.limits.ok, true);

    const job = (await h.history.get(id))!;
    assert.equal(job.provider, 'together');
    assert.equal(job.hardware, 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference');
    assert.match(job.name, /^train · Meta-Llama-3\.1-8B/);
    assert.ok(job.providerJobId?.startsWith('ft-'));
    assert.equal(job.metadata.webUrl, `https://api.together.ai/fine-tuning/${job.providerJobId}`);
    assert.equal((job.submission?.options as { loraRank?: number }).loraRank, 16);
    assert.equal(job.consent?.decision, 'once');
    assert.equal(together.files.size, 1, 'the dataset was uploaded once');
    assert.ok(shim.executed.some((e) => e.id === 'cloudTraining.showLogs' && e.args[0] === id), 'the job\'s log channel opens');
    // The key never reaches history or logs.
    assert.doesNotMatch(readFileSync(h.history.file, 'utf8'), new RegExp(together.apiKey));
    assert.doesNotMatch(logs.join('\n'), new RegExp(together.apiKey));

    // The monitor follows it to succeeded; the provider's events land in the job's log mirror (the output channel tails it).
    const monitor = new JobMonitor(h.history, services.providers, { dataHome: h.layout.home, intervalMs: 10, maxBackoffMs: 10 });
    // A dropped connection while polling: the tree row says "Reconnecting…", nothing else changes.
    together.fail({ method: 'GET', path: /^\/fine-tunes\/ft-[^/]+$/, drop: true, times: 5 });
    await new Promise((r) => setTimeout(r, 1100)); // past the provider's 1 s cache of the retrieved job
    const dropped = (await monitor.refresh(job))!;
    assert.match(dropped.statusDetail ?? '', /^Reconnecting: /);
    assert.match(jobDescription(dropped), /^Reconnecting: /);
    assert.doesNotMatch(dropped.statusDetail!, new RegExp(together.apiKey));
    together.faults.length = 0;
    let done = job;
    // The stand-in advances one stage per retrieve; the provider reuses a retrieved job for 1 s.
    for (let i = 0; i < 40 && !(done.status === 'succeeded' && done.metadata.finalized === true); i++) {
      done = (await monitor.refresh(done)) ?? done;
      await new Promise((r) => setTimeout(r, 1050));
    }
    monitor.dispose();
    assert.equal(done.status, 'succeeded');
    assert.ok(done.logPath && readFileSync(done.logPath, 'utf8').length > 0, 'events in the log mirror');
  });

  it('Resubmit of a Together job offers to continue from its checkpoint (from_checkpoint = the job id)', async () => {
    shim.autopilot = (page: Page) => {
      if (page.view === 'consent') void page.client.request('consent.answer', { answer: 'once' });
      if (page.view === 'cost') void page.client.request('cost.confirm', { proceed: true });
    };
    shim.pick = (items, placeHolder) => (/Which service/.test(placeHolder ?? '') ? items.find((i) => i.label === 'Together AI') : items[0]);
    shim.inputBox = () => '1';
    const first = await shim.commands.get('cloudTraining.finetune')!(Uri.file(dataset)) as string;
    const old = (await h.history.get(first))!;
    shim.pick = (items) => items.find((i) => i.label.startsWith('Continue from the last checkpoint'));
    // The tree's Resubmit runs cloudTraining.submit with the job; a fine-tune job is handed to Fine-tune….
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { registerSubmit } = require('../../../src/vscode/submit/register') as typeof import('../../../src/vscode/submit/register');
    registerSubmit(services);
    const second = await shim.commands.get('cloudTraining.submit')!({ resubmitOf: first }) as string;
    const job = (await h.history.get(second))!;
    assert.equal((job.submission?.options as { fromCheckpoint?: string }).fromCheckpoint, old.providerJobId);
    assert.equal([...together.jobs.values()].find((j) => j.id === job.providerJobId)?.from_checkpoint, old.providerJobId);
    assert.equal(together.files.size, 1, 'the same file is reused by sha256, not uploaded twice');
  });

  it('Validate Fine-tune Dataset on a file that is not open streams it from disk into Problems', async () => {
    const lines = readFileSync(dataset, 'utf8').split('\n');
    lines[9] = '{"prompt": "mixed in", "completion": "x"}';
    writeFileSync(dataset, lines.join('\n'));
    const r = await shim.commands.get('cloudTraining.finetune.validate')!(Uri.file(dataset)) as { examples: number; errors: number };
    assert.deepEqual(r, { examples: 11, errors: 1, format: 'chat' });
    const [d] = shim.diagnostics.get(dataset)!;
    assert.equal(d!.code, 'mixed-format');
    assert.equal(d!.range.start.line, 9);
    assert.match(shim.messages.find((m) => m.level === 'warn')!.text, /train\.jsonl: 11 examples, 12 lines, chat format; 1 error\./);
  });

  it('Estimate on a preference dataset prices a DPO fine-tune (no upload, no job)', async () => {
    const pref = JSON.stringify({ input: { messages: [{ role: 'user', content: 'Pick one' }] }, preferred_output: [{ role: 'assistant', content: 'A' }], non_preferred_output: [{ role: 'assistant', content: 'B' }] });
    const file = path.join(h.ws.workspace, 'data', 'prefs.jsonl');
    writeFileSync(file, `${pref}\n${pref}\n`);
    shim.pick = (items, placeHolder) => (/Which service/.test(placeHolder ?? '') ? items.find((i) => i.label === 'Together AI') : items[0]);
    shim.inputBox = () => '3';
    await shim.commands.get('cloudTraining.finetune.estimate')!(Uri.file(file));
    const cost = await until(() => shim.pages.find((p) => p.view === 'cost')?.data[0] as CostViewData | undefined, 'the cost page');
    assert.equal(cost.mode, 'info');
    assert.equal(cost.finetune!.rateKey, 'dpo-lora');
    assert.equal(cost.finetune!.epochs, 3);
    assert.equal(together.files.size, 0);
    assert.deepEqual(await h.history.list(), []);
  });

  it('a dataset with a bad line among many: the error names the line and field, nothing is uploaded or created', async () => {
    const lines = readFileSync(dataset, 'utf8').split('\n');
    lines[7] = JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: '' }] });
    writeFileSync(dataset, lines.join('\n'));
    shim.pick = (items, placeHolder) => (/Which service/.test(placeHolder ?? '') ? items.find((i) => i.label === 'Together AI') : items[0]);
    shim.inputBox = () => '1';
    const id = await shim.commands.get('cloudTraining.finetune')!(Uri.file(dataset));
    assert.equal(id, undefined);
    const err = shim.messages.find((m) => m.level === 'error')!;
    assert.match(err.text, /train\.jsonl:8 \(messages\[1\]\.content\):.*empty assistant turn.*Nothing was uploaded/);
    assert.equal(together.files.size, 0);
    assert.equal(together.jobs.size, 0);
    assert.deepEqual(await h.history.list(), []);
    assert.deepEqual(shim.pages, [], 'no consent or cost page');
    await until(() => shim.diagnostics.get(dataset)?.length, 'the problem shown as a diagnostic');
  });

  it('no Together price in our table and a spending limit set: Together\'s own estimate, asked after the upload, decides — over the limit nothing starts and the upload is deleted; under it the job carries that estimate', async () => {
    shim.config['cloudTraining.limits.daily'] = 5;
    shim.autopilot = (page: Page) => {
      if (page.view === 'consent') void page.client.request('consent.answer', { answer: 'once' });
      if (page.view === 'cost') void page.client.request('cost.confirm', { proceed: true });
    };
    shim.pick = (items, placeHolder) => (/Which service/.test(placeHolder ?? '') ? items.find((i) => i.label === 'Together AI') : items[0]);
    shim.inputBox = () => '1';
    // 12 lines × 100 tokens (the stand-in's count) at $10,000 per 1M tokens: $12, over the $5 left today.
    together.pricePerMillion = 10_000;
    const refused = await shim.commands.get('cloudTraining.finetune')!(Uri.file(dataset));
    assert.equal(refused, undefined);
    const cost = shim.pages.find((p) => p.view === 'cost')!.data[0] as CostViewData;
    assert.equal(cost.limits.ok, true, 'an unknown Together price is not blocked in the cost view');
    assert.match(cost.finetune!.priceCheck ?? '', /prices the job itself once the files are uploaded/);
    const err = shim.messages.find((m) => m.level === 'error')!;
    assert.match(err.text, /would pass a spending limit, so it was not submitted/);
    assert.match(err.detail ?? '', /Together estimates \$12\.00 for this job .*uploaded files were deleted.*Blocked by the overall daily limit of \$5\.00/s);
    assert.equal(together.files.size, 0, 'the uploaded file was deleted');
    assert.equal(together.jobs.size, 0);
    assert.deepEqual(await h.history.list(), []);

    together.pricePerMillion = 0.48;
    shim.pages.length = 0;
    const id = await shim.commands.get('cloudTraining.finetune')!(Uri.file(dataset)) as string;
    const job = (await h.history.get(id))!;
    assert.equal(together.jobs.size, 1);
    assert.equal(job.cost?.estimate?.expected, 0.000576, 'Together\'s estimate (1,200 tokens at $0.48/1M) is the job\'s estimate');
    assert.match(job.cost?.estimate?.basis ?? '', /Together estimate-price for 1,200 training tokens/);
  });
});

describe('editor: Fine-tune… to Fireworks (account id setting, key in secret storage, price known)', function () {
  this.timeout(60_000);
  let h: Harness;
  let services: ExtensionServices;
  let fireworks: import('../../support/fireworks-server/server').FakeFireworks;
  let secrets: Map<string, string>;
  let dataset: string;

  beforeEach(async () => {
    shim.reset();
    h = harness();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { FakeFireworks } = require('../../support/fireworks-server/server') as typeof import('../../support/fireworks-server/server');
    fireworks = new FakeFireworks();
    await fireworks.start();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { FIREWORKS_KEY } = require('../../../src/vscode/fireworks/register') as typeof import('../../../src/vscode/fireworks/register');
    secrets = new Map([[FIREWORKS_KEY, fireworks.apiKey]]);
    const log = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error'].map((l) => [l, () => undefined]));
    services = {
      context: {
        subscriptions: [], extensionUri: Uri.file(root), globalState: new Memento(),
        secrets: { get: async (k: string) => secrets.get(k), store: async (k: string, v: string) => void secrets.set(k, v), delete: async (k: string) => void secrets.delete(k) },
      } as unknown as ExtensionServices['context'],
      history: h.history, layout: h.layout, providers: h.providers,
      log: log as unknown as ExtensionServices['log'],
    };
    shim.config['cloudTraining.fireworks.baseUrl'] = fireworks.base;
    mkdirSync(path.join(h.ws.workspace, 'data'), { recursive: true });
    dataset = path.join(h.ws.workspace, 'data', 'train.jsonl');
    writeFileSync(dataset, `${Array.from({ length: 8 }, () => GOOD).join('\n')}\n`);
    registerTogether(services);
    registerFireworks(services);
    registerFinetune(services);
  });
  afterEach(async () => {
    for (const d of (services.context.subscriptions as { dispose(): unknown }[])) d.dispose();
    shim.reset();
    await fireworks.close();
    await h.dispose();
  });

  it('asks for the account id once (saved as a setting), shows the per-token price, and creates the job', async () => {
    shim.autopilot = (page: Page) => {
      if (page.view === 'consent') void page.client.request('consent.answer', { answer: 'once' });
      if (page.view === 'cost') void page.client.request('cost.confirm', { proceed: true });
    };
    shim.pick = (items, placeHolder) => (/Which service/.test(placeHolder ?? '') ? items.find((i) => i.label === 'Fireworks') : items[0]);
    const answers = [fireworks.account, '2'];
    shim.inputBox = () => answers.shift(); // account id, then epochs
    const id = await shim.commands.get('cloudTraining.finetune')!(Uri.file(dataset)) as string;
    assert.ok(id, JSON.stringify(shim.messages));
    assert.equal(shim.config['cloudTraining.fireworks.accountId'], fireworks.account);
    const cost = shim.pages.find((p) => p.view === 'cost')!.data[0] as CostViewData;
    assert.equal(cost.finetune!.pricePerMillion, 0.5);
    assert.equal(cost.finetune!.billedTokens, cost.finetune!.files[0]!.tokens * 2);
    assert.ok((cost.finetune!.cost ?? 0) > 0);
    const job = (await h.history.get(id))!;
    assert.equal(job.provider, 'fireworks');
    assert.match(String(job.metadata.webUrl), /^https:\/\/app\.fireworks\.ai\/dashboard\/fine-tuning\/supervised\//);
    assert.equal(job.cost?.estimate?.expected, cost.finetune!.cost);
    assert.doesNotMatch(readFileSync(h.history.file, 'utf8'), new RegExp(fireworks.apiKey));
  });
});
