// Drives the real VS Code workbench (code-server) in Debian's headless chromium, as a user would:
// keyboard, command palette, clicks, context menus. Selectors are VS Code's own DOM classes.
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as z from 'zod';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface E2eEnv {
  url: string;
  workspaceDir: string;
  dataHome: string;
  probeOut: string;
  screenshotDir: string;
  hostLog: string;
}

export function e2eEnv(): E2eEnv {
  const need = (k: string) => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set: run the scenarios through \`npm run test:e2e\``);
    return v;
  };
  return {
    url: need('E2E_URL'),
    workspaceDir: need('E2E_WORKSPACE_DIR'),
    dataHome: need('E2E_DATA_HOME'),
    probeOut: need('E2E_PROBE_OUT'),
    screenshotDir: need('E2E_SCREENSHOT_DIR'),
    hostLog: need('E2E_HOST_LOG'),
  };
}

const ProbeState = z.object({
  at: z.string(),
  nodeVersion: z.string(),
  vscodeVersion: z.string(),
  extensions: z.array(z.object({ id: z.string(), active: z.boolean() })),
  commands: z.array(z.string()),
  documents: z.array(z.object({ uri: z.string(), length: z.number() })).default([]),
});
export type ProbeState = z.infer<typeof ProbeState>;

/** Polls `check` every 250 ms until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}

/** A tree row's label and description, space-separated (innerText runs them together). */
export async function rowText(row: Locator): Promise<string> {
  const parts = await row.locator('.label-name, .label-description').allInnerTexts().catch(() => [] as string[]);
  return (parts.length ? parts.join(' ') : await row.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
}

export class Workbench {
  private constructor(readonly env: E2eEnv, readonly context: BrowserContext, readonly page: Page, private readonly profileDir: string) {}

  static async open(env: E2eEnv): Promise<Workbench> {
    const profileDir = mkdtempSync(path.join(os.tmpdir(), 'cloud-training-e2e-chromium-'));
    const context = await chromium.launchPersistentContext(profileDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 900 },
      // Chromium keeps crash reports under $XDG_CONFIG_HOME whatever the profile: keep them in ours.
      env: { ...process.env, XDG_CONFIG_HOME: profileDir, XDG_CACHE_HOME: profileDir },
    }).catch((e: unknown) => {
      rmSync(profileDir, { recursive: true, force: true });
      throw e;
    });
    const page = context.pages()[0] ?? (await context.newPage());
    // Anything that left the machine means something tried to reach the internet: fail loudly.
    // Webview resources use VS Code's virtual host (*.vscode-resource.vscode-cdn.net): the webview's
    // service worker answers those from the local server, so only a response that did not come from
    // a service worker (or a request that failed) counts.
    const origin = new URL(env.url).origin;
    const external: string[] = [];
    const isExternal = (u: string) => !/^(data|blob|about|vscode-webview|chrome-extension):/.test(u) && !u.startsWith(origin);
    page.on('response', (r) => { if (isExternal(r.url()) && !r.fromServiceWorker()) external.push(r.url()); });
    page.on('requestfailed', (r) => { if (isExternal(r.url())) external.push(`${r.url()} (${r.failure()?.errorText ?? 'failed'})`); });
    const wb = new Workbench(env, context, page, profileDir);
    wb.externalRequests = external;
    try {
      await wb.load();
    } catch (e) {
      await wb.screenshot('FAILED-workbench-open').catch(() => undefined);
      await wb.close();
      throw e;
    }
    return wb;
  }

  /** Opens the workspace folder in the workbench and waits until it is usable. */
  private async load(): Promise<void> {
    const { page, env } = this;
    await page.goto(`${env.url}?folder=${encodeURIComponent(env.workspaceDir)}`);
    await page.locator('.monaco-workbench .part.activitybar').waitFor({ timeout: 90_000 });
    await page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: 90_000 });
    // The window title names the folder once the workbench has resolved it through the server.
    const folder = path.basename(env.workspaceDir);
    await waitFor(`the window title to name ${folder}`, async () => (await page.title()).includes(folder), 90_000);
    await this.widenSideBar();
  }

  externalRequests: string[] = [];

  async close(): Promise<void> {
    await this.context.close().catch(() => undefined);
    rmSync(this.profileDir, { recursive: true, force: true });
  }

  /** Saves a full-window PNG into the screenshot folder and returns its path. */
  async screenshot(name: string): Promise<string> {
    const file = path.join(this.env.screenshotDir, `${name.replace(/[^a-z0-9-]+/gi, '-')}.png`);
    await this.page.screenshot({ path: file });
    if (!existsSync(file) || statSync(file).size < 1000) throw new Error(`screenshot ${file} was not written`);
    console.log(`      screenshot: ${path.relative(process.cwd(), file)}`);
    return file;
  }

  async pressEscape(times = 1): Promise<void> {
    for (let i = 0; i < times; i++) await this.page.keyboard.press('Escape');
  }

  /** The quick input (command palette / quick pick) while it is open. */
  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  quickPickRows(): Locator {
    return this.quickInput.locator('.quick-input-list .monaco-list-row');
  }

  /** Opens the command palette and types `text` after the `>` prefix; returns the visible rows. */
  async openPalette(text: string): Promise<Locator> {
    await this.pressEscape();
    await this.page.keyboard.press('F1');
    const input = this.quickInput.locator('input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${text}`);
    return this.quickPickRows();
  }

  /** Runs a command from the palette by its full label ("Category: Title"), as a user would. */
  async runCommand(label: string): Promise<void> {
    const rows = await this.openPalette(label);
    const row = rows.filter({ has: this.page.locator('.label-name', { hasText: label }) }).first();
    await row.waitFor({ state: 'visible', timeout: 15_000 }).catch(async () => {
      const shown = await rows.allInnerTexts();
      throw new Error(`command "${label}" not in the palette; it shows: ${JSON.stringify(shown.slice(0, 10))}`);
    });
    await row.click();
  }

  /** Waits for a quick pick to be open and picks the first row whose text matches `match`. */
  async pick(match: RegExp, timeoutMs = 15_000): Promise<string> {
    const rows = this.quickPickRows();
    const row = await waitFor(`a quick pick row matching ${match}`, async () => {
      if (!(await this.quickInput.isVisible())) return undefined;
      const n = await rows.count();
      for (let i = 0; i < n; i++) {
        const t = await rows.nth(i).innerText().catch(() => '');
        if (match.test(t)) return { row: rows.nth(i), text: t };
      }
      return undefined;
    }, timeoutMs);
    await row.row.click();
    return row.text;
  }

  /** Widens the focused side bar (Increase Current View Size) so job rows show their whole description. */
  async widenSideBar(times = 4): Promise<void> {
    await this.runCommand('View: Focus into Primary Side Bar');
    for (let i = 0; i < times; i++) {
      await this.runCommand('Increase Current View Size');
      await this.page.waitForTimeout(100);
    }
  }

  /** Shows the Cloud Training Jobs view whatever is open (clicking the icon would toggle it closed). */
  async showJobsView(): Promise<void> {
    await this.runCommand('Cloud Training: Focus on Jobs View');
    await this.sideBar.locator('.composite.title', { hasText: /cloud training/i }).waitFor({ state: 'visible', timeout: 10_000 });
  }

  /** Clicks the activity bar item whose label starts with `title`. */
  activityBarItem(title: string): Locator {
    return this.page.locator(`.part.activitybar .action-item a[aria-label^="${title}"], .part.activitybar .action-item .action-label[aria-label^="${title}"]`).first();
  }

  /** The side bar (primary). */
  get sideBar(): Locator {
    return this.page.locator('.part.sidebar');
  }

  /** Tree rows in the side bar's view(s). */
  sideBarRows(): Locator {
    return this.sideBar.locator('.monaco-list-row');
  }

  /** Texts of the notification toasts currently shown. */
  async notifications(): Promise<string[]> {
    return this.page.locator('.notification-toast .notification-list-item-message').allInnerTexts();
  }

  /** The visible lines of the Output panel's editor. */
  async outputText(): Promise<string> {
    return (await this.page.locator('.part.panel .output-view .view-lines, .part.panel .monaco-editor .view-lines').first().innerText()).replace(/\u00a0/g, ' ');
  }

  /** Opens a workspace file with Quick Open (Ctrl+P), as a user would. */
  async openFile(relativePath: string): Promise<void> {
    await this.pressEscape();
    await this.page.keyboard.press('Control+P');
    const input = this.quickInput.locator('input');
    await input.waitFor({ state: 'visible' });
    await input.fill(relativePath);
    const base = path.basename(relativePath);
    const row = this.quickPickRows().filter({ hasText: base }).first();
    await row.waitFor({ state: 'visible', timeout: 15_000 });
    await row.click();
    await this.page.locator(`.tabs-container .tab.active[aria-label*="${base}"], .tabs-container .tab.active:has-text("${base}")`).first().waitFor({ timeout: 15_000 });
  }

  /** Job rows of the Cloud Training Jobs view: level-2 rows under the status groups. */
  jobRows(): Locator {
    // Only while the side bar shows Cloud Training (the Explorer has level-2 rows too).
    return this.page.locator('.part.sidebar:has(.composite.title:has-text("Cloud Training")) .monaco-list-row[aria-level="2"]');
  }

  /** Waits for a job row whose text matches `match`; returns the row and its text. */
  async waitForJobRow(match: RegExp, timeoutMs = 60_000): Promise<{ row: Locator; text: string }> {
    const rows = this.jobRows();
    return waitFor(`a job row matching ${match}`, async () => {
      const n = await rows.count();
      for (let i = 0; i < n; i++) {
        const text = await rowText(rows.nth(i));
        if (match.test(text)) return { row: rows.nth(i), text };
      }
      return undefined;
    }, timeoutMs);
  }

  /** Right-clicks `target` and chooses the context-menu entry labelled `label`. */
  async contextMenu(target: Locator, label: string | RegExp): Promise<void> {
    await this.pressEscape();
    await target.click({ button: 'right' });
    const menu = this.page.locator('.context-view .monaco-menu');
    await menu.waitFor({ state: 'visible', timeout: 10_000 });
    const item = menu.locator('.action-item .action-label', { hasText: label }).first();
    await item.waitFor({ state: 'visible', timeout: 5_000 }).catch(async () => {
      const shown = await menu.locator('.action-item .action-label').allInnerTexts();
      await this.pressEscape();
      throw new Error(`context menu has no "${label}" (it shows: ${shown.filter(Boolean).join(' | ')})`);
    });
    // VS Code's menu ignores a mouse-up that comes right after it opened (the right-click's own);
    // hover first, and click again if the menu is still there.
    await item.hover();
    for (let i = 0; i < 4 && (await menu.isVisible()); i++) {
      await this.page.waitForTimeout(250);
      await item.click({ timeout: 2_000 }).catch(() => undefined);
    }
    if (await menu.isVisible()) throw new Error(`the context menu did not take the click on "${label}"`);
  }

  /** The modal dialog's button labelled `label`, when a modal is shown. */
  dialogButton(label: string | RegExp): Locator {
    return this.page.locator('.monaco-dialog-box .dialog-buttons .monaco-button', { hasText: label }).first();
  }

  /** The content frame of the webview editor whose tab title matches `title` (the active one). */
  webview(): import('playwright-core').FrameLocator {
    return this.page.frameLocator('iframe.webview.ready').last().frameLocator('iframe#active-frame');
  }

  /** Asks the probe extension which commands the extension host has registered. */
  async probe(): Promise<ProbeState> {
    const before = existsSync(this.env.probeOut) ? readFileSync(this.env.probeOut, 'utf8') : '';
    await this.runCommand('E2E Probe: Dump State');
    return waitFor('the probe to write its state', () => {
      if (!existsSync(this.env.probeOut)) return undefined;
      const text = readFileSync(this.env.probeOut, 'utf8');
      return text && text !== before ? ProbeState.parse(JSON.parse(text)) : undefined;
    }, 20_000);
  }
}
