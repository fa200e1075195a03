// A Together AI fine-tune from the dataset's CodeLens to "succeeded", against the local Together
// stand-in (test/support/together-server): the key set through the palette (secret storage), the base
// URL through the workspace setting, a small chat data/train.jsonl, the lens clicked, the questions
// answered, consent and cost accepted in their webviews, and the job followed in the tree.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FakeTogether } from '../support/together-server/server';
import { workbench } from './support/hooks';
import { waitFor } from './support/workbench';

const chat = (i: number) => JSON.stringify({ messages: [
  { role: 'system', content: 'Answer in one short sentence.' },
  { role: 'user', content: `What is ${i} + ${i}?` },
  { role: 'assistant', content: `${i} + ${i} is ${2 * i}.` },
] });

describe('Together AI fine-tune from the CodeLens', () => {
  let together: FakeTogether;

  before(async () => {
    const wb = workbench();
    together = new FakeTogether();
    together.steps = 3;
    await together.start(Number(process.env.E2E_TOGETHER_PORT));
    const ws = wb.env.workspaceDir;
    mkdirSync(path.join(ws, 'data'), { recursive: true });
    writeFileSync(path.join(ws, 'data', 'train.jsonl'), `${Array.from({ length: 24 }, (_, i) => chat(i + 1)).join('\n')}\n`);
  });
  after(async () => { await together?.close(); });

  it('Set Together API Key: the key is checked with Together and kept in secret storage', async () => {
    const wb = workbench();
    // The extension's TOGETHER_BASE_URL points at this stand-in from the start (run.mjs): one check.
    await wb.runCommand('Cloud Training: Set Together API Key');
    const input = wb.quickInput.locator('input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(together.apiKey);
    await wb.page.keyboard.press('Enter');
    const outcome = await waitFor('the key check', async () => (await wb.notifications()).find((n) => /Together API key works|key was not saved/.test(n)), 30_000);
    assert.match(outcome, /works/, 'the key check passed against the stand-in');
    assert.ok(together.requests.some((r) => /^GET .*\/files$/.test(r)), 'the key was checked against the stand-in');
  });

  it('the lens above data/train.jsonl → Fine-tune… → consent → cost → the job succeeds in the tree', async () => {
    const wb = workbench();
    await wb.openFile('data/train.jsonl');
    const lenses = wb.page.locator('.monaco-editor .codelens-decoration');
    const lensText = await waitFor('the fine-tune lens with examples and tokens', async () => {
      const t = (await lenses.allInnerTexts()).map((x) => x.replace(/\s+/g, ' ').trim()).join(' | ');
      return /24 examples · [\d.,]+ (K |M )?tokens · chat format/.test(t) ? t : undefined;
    }, 60_000);
    assert.match(lensText, /Fine-tune…/);
    assert.doesNotMatch(lensText, /estimate\)/, 'Llama 3 tokens are counted with the real tokenizer');
    await wb.screenshot('07-together-lens');
    await wb.showJobsView();
    const jobsBefore = await wb.jobRows().count();

    // A hover (the breadcrumb's path tooltip) can sit over the lens line: move away and let it fade.
    const fineTune = lenses.locator('a', { hasText: 'Fine-tune…' }).first();
    for (let i = 0; i < 3; i++) {
      await wb.page.mouse.move(900, 700);
      await wb.pressEscape();
      await wb.page.waitForTimeout(800);
      if (await fineTune.click({ timeout: 5_000 }).then(() => true, () => false)) break;
    }
    const steps: string[] = [];
    steps.push(`provider: ${await wb.pick(/Together AI/)}`);
    steps.push(`model: ${await wb.pick(/Meta-Llama-3\.1-8B-Instruct-Reference/)}`);
    // Epochs: the default (1).
    await wb.quickInput.locator('input').waitFor({ state: 'visible', timeout: 15_000 });
    await wb.page.keyboard.press('Enter');
    steps.push(`LoRA rank: ${await wb.pick(/common default/)}`);

    // Validation file question (only when the workspace holds another .jsonl), then consent and cost.
    const deadline = Date.now() + 90_000;
    const clicked = new Set<string>();
    while ((await wb.jobRows().count()) <= jobsBefore && Date.now() < deadline) {
      await wb.page.waitForTimeout(400);
      if (await wb.quickInput.isVisible() && (await wb.quickPickRows().filter({ hasText: 'No validation file' }).count())) {
        steps.push(`validation: ${await wb.pick(/No validation file/)}`);
        continue;
      }
      const frame = wb.webview();
      for (const id of ['#upload-once', '#submit']) {
        const b = frame.locator(id);
        if (!clicked.has(id) && await b.isVisible().catch(() => false) && await b.isEnabled().catch(() => false)) {
          const body = (await frame.locator('body').innerText().catch(() => '')).replace(/\s+/g, ' ');
          if (id === '#upload-once') {
            assert.match(body, /train\.jsonl/, 'consent lists the file');
            assert.match(body, /\b24\b/, 'consent shows its line count');
            assert.match(body, /Together AI/);
            await wb.screenshot('07-together-consent');
          } else {
            assert.match(body, /tokens/i, 'the cost view shows the tokens');
            assert.match(body, /checked \d{4}-\d{2}-\d{2}/, 'and the price table\'s date');
            await wb.screenshot('07-together-cost');
          }
          steps.push(`webview ${id}`);
          clicked.add(id);
          await b.click();
        }
      }
    }
    assert.ok((await wb.jobRows().count()) > jobsBefore, `a job row appeared (steps: ${steps.join(' → ')}; notifications: ${(await wb.notifications()).join(' | ')})`);
    assert.deepEqual([...clicked], ['#upload-once', '#submit'], `consent then cost (steps: ${steps.join(' → ')})`);
    assert.equal(together.files.size, 1, 'the dataset was uploaded to the stand-in');

    const done = await wb.waitForJobRow(/train · Meta-Llama-3\.1-8B.*\bsucceeded\b/i, 120_000);
    assert.doesNotMatch(done.text, /failed|cancelled/i);
    await wb.screenshot('07-together-succeeded');
    const [job] = [...together.jobs.values()];
    assert.equal(job?.status, 'completed');
    assert.equal(job?.model, 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference');
  });
});
