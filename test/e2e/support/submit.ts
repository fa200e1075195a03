// Walks the "Submit…" flow the way a user does: runs the command from the palette, then answers
// whatever it asks — the provider quick pick (the one matching `provider`), the config pick (the
// example's config/config.json), input boxes (accepts the default), confirmation dialogs and the
// consent / cost decision webviews (the affirmative button) — until a new job row appears in the Jobs view or, with `stopAtWebview`,
// until a webview (consent / cost) opens. Every answer is recorded for the failure message.
import type { Workbench } from './workbench';
import { command, paletteLabel, readManifest } from './manifest';

export interface SubmitOptions {
  provider: RegExp;
  stopAtWebview?: boolean;
  timeoutMs?: number;
}

const AFFIRMATIVE = /^(submit|start|run|continue|allow|approve|ok|yes)\b/i;

export async function submitFromPalette(wb: Workbench, opts: SubmitOptions): Promise<{ steps: string[]; reached: 'job' | 'webview' }> {
  return runAndAnswer(wb, 'cloudTraining.submit', opts);
}

/** Runs the contributed command `commandId` from the palette and answers its questions (see above). */
export async function runAndAnswer(wb: Workbench, commandId: string, opts: SubmitOptions): Promise<{ steps: string[]; reached: 'job' | 'webview' }> {
  const m = readManifest();
  const submit = command(m, commandId);
  if (!submit) throw new Error(`package.json contributes no ${commandId}`);
  const jobsBefore = await wb.jobRows().count();
  const webviewsBefore = await wb.page.locator('iframe.webview').count();
  await wb.runCommand(paletteLabel(submit));
  const steps: string[] = [`palette: ${paletteLabel(submit)}`];
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let lastPickTitle = '';
  const handledWebviewButtons = new Set<string>();

  while (Date.now() < deadline) {
    await wb.page.waitForTimeout(400);
    if ((await wb.jobRows().count()) > jobsBefore) return { steps, reached: 'job' };
    const webviews = await wb.page.locator('iframe.webview').count();
    if (opts.stopAtWebview && webviews > webviewsBefore) return { steps, reached: 'webview' };
    if (webviews > webviewsBefore) {
      // A decision panel (consent: "Upload once", cost: "Submit (about $…)"): take the affirmative one.
      const affirmative = wb.webview().locator('#upload-once, #submit').first();
      if (await affirmative.isVisible().catch(() => false) && await affirmative.isEnabled().catch(() => false)) {
        const label = (await affirmative.innerText().catch(() => '')).trim();
        if (!handledWebviewButtons.has(label)) {
          handledWebviewButtons.add(label);
          steps.push(`webview: ${label}`);
          await affirmative.click();
          continue;
        }
      }
    }

    const dialog = wb.page.locator('.monaco-dialog-box');
    if (await dialog.isVisible()) {
      const message = (await dialog.locator('.dialog-message-text, .dialog-message').first().innerText().catch(() => '')).trim();
      if (/not found|error|failed/i.test(message)) throw new Error(`${commandId} showed an error dialog: "${message}" (steps: ${steps.join(' → ')})`);
      const buttons = dialog.locator('.dialog-buttons .monaco-button');
      const labels = (await buttons.allInnerTexts()).map((b) => b.trim());
      const i = labels.findIndex((l) => AFFIRMATIVE.test(l));
      if (i < 0) throw new Error(`a dialog with no affirmative button: ${labels.join(' | ')} (steps: ${steps.join(' → ')})`);
      steps.push(`dialog "${message.slice(0, 80)}": ${labels[i]}`);
      await buttons.nth(i).click();
      continue;
    }

    if (await wb.quickInput.isVisible()) {
      const title = (await wb.quickInput.locator('.quick-input-title, .quick-input-header').first().innerText().catch(() => '')).trim();
      const placeholder = (await wb.quickInput.locator('input').getAttribute('placeholder')) ?? '';
      const rows = wb.quickPickRows();
      const texts = (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
      const key = `${title}|${placeholder}|${texts.join('/')}`;
      if (key === lastPickTitle) continue; // our last answer has not been taken yet
      lastPickTitle = key;
      if (!texts.length) {
        steps.push(`input "${placeholder || title}": default`);
        await wb.page.keyboard.press('Enter');
        continue;
      }
      const byProvider = texts.findIndex((t) => opts.provider.test(t));
      const byConfig = texts.findIndex((t) => /config\/config\.json|config\.json/.test(t));
      const i = byProvider >= 0 ? byProvider : byConfig >= 0 ? byConfig : 0;
      steps.push(`pick "${placeholder || title}": ${texts[i]}`);
      await rows.nth(i).click();
    }
  }
  throw new Error(`${commandId} did not produce a job${opts.stopAtWebview ? ' or a webview' : ''} within the time limit (steps: ${steps.join(' → ')}; notifications: ${(await wb.notifications()).join(' | ')})`);
}
