#!/usr/bin/env node
// Renders every Cloud Training webview with sample data in headless Chromium (Debian `chromium`),
// exactly as VS Code would load it (same HTML, same CSP, same bundle), with a stub acquireVsCodeApi
// that answers `ready` with the sample data. Checks the data is on screen, that nothing broke the CSP,
// and that the buttons send the right requests; saves PNGs under test-results/webviews/.
//
// Usage: node scripts/screenshots/webviews.mjs [--out DIR]     (exit 0 = every check passed)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const outArg = process.argv.indexOf('--out');
const outDir = path.resolve(root, outArg > 0 ? process.argv[outArg + 1] : 'test-results/webviews');

// The HTML builder and the sample data are the TypeScript the extension and the tests use.
register();
const require = createRequire(import.meta.url);
const { webviewHtml } = require(path.join(root, 'src/vscode/webviews/html.ts'));
const samples = require(path.join(root, 'test/unit/webview/samples.ts'));

/** A subset of VS Code's Dark Modern and Light Modern theme variables (what our CSS and the toolkit read). */
const THEMES = {
  dark: {
    '--vscode-foreground': '#cccccc', '--vscode-editor-background': '#1f1f1f', '--vscode-descriptionForeground': '#9d9d9d',
    '--vscode-font-family': 'system-ui, "Ubuntu", "Droid Sans", sans-serif', '--vscode-font-size': '13px', '--vscode-font-weight': 'normal',
    '--vscode-panel-border': '#2b2b2b', '--vscode-widget-border': '#313131', '--vscode-focusBorder': '#0078d4',
    '--vscode-button-background': '#0078d4', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#026ec1',
    '--vscode-button-secondaryBackground': '#313131', '--vscode-button-secondaryForeground': '#cccccc', '--vscode-button-secondaryHoverBackground': '#3c3c3c',
    '--vscode-button-border': '#ffffff12', '--vscode-badge-background': '#616161', '--vscode-badge-foreground': '#f8f8f8',
    '--vscode-errorForeground': '#f85149', '--vscode-editorWarning-foreground': '#cca700', '--vscode-testing-iconPassed': '#73c991',
    '--vscode-charts-blue': '#3794ff', '--vscode-charts-orange': '#d18616', '--vscode-input-background': '#313131',
    '--vscode-progressBar-background': '#0078d4', '--vscode-keybindingTable-rowsBackground': '#ffffff0a', '--vscode-list-hoverBackground': '#2a2d2e',
    '--vscode-list-activeSelectionBackground': '#04395e', '--vscode-editorWidget-background': '#202020', '--vscode-dropdown-background': '#313131',
  },
  light: {
    '--vscode-foreground': '#3b3b3b', '--vscode-editor-background': '#ffffff', '--vscode-descriptionForeground': '#717171',
    '--vscode-font-family': 'system-ui, "Ubuntu", "Droid Sans", sans-serif', '--vscode-font-size': '13px', '--vscode-font-weight': 'normal',
    '--vscode-panel-border': '#e5e5e5', '--vscode-widget-border': '#e5e5e5', '--vscode-focusBorder': '#005fb8',
    '--vscode-button-background': '#005fb8', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#0258a8',
    '--vscode-button-secondaryBackground': '#e5e5e5', '--vscode-button-secondaryForeground': '#3b3b3b', '--vscode-button-secondaryHoverBackground': '#cccccc',
    '--vscode-button-border': '#0000001a', '--vscode-badge-background': '#cccccc', '--vscode-badge-foreground': '#3b3b3b',
    '--vscode-errorForeground': '#f85149', '--vscode-editorWarning-foreground': '#bf8803', '--vscode-testing-iconPassed': '#388a34',
    '--vscode-charts-blue': '#1a85ff', '--vscode-charts-orange': '#d18616', '--vscode-input-background': '#ffffff',
    '--vscode-progressBar-background': '#005fb8', '--vscode-keybindingTable-rowsBackground': '#0000000a', '--vscode-list-hoverBackground': '#f2f2f2',
    '--vscode-list-activeSelectionBackground': '#e8e8e8', '--vscode-editorWidget-background': '#f8f8f8', '--vscode-dropdown-background': '#ffffff',
  },
};

/** What each view must show, and which button sends which request. */
const VIEWS = [
  {
    view: 'consent', title: 'Upload consent', data: samples.sampleConsent(),
    expect: ['Upload to Replicate?', 'pixel-art', 'regularisation', '48', '18 MB', 'keys/id_rsa', 'symlink leaves the dataset', 'deleted from Replicate', 'Upload once', 'Always allow for this workspace'],
    click: { selector: '#always-allow', request: { method: 'consent.answer', params: { answer: 'always' } }, after: 'Allowed for this workspace' },
  },
  {
    view: 'cost', title: 'Cost estimate', data: samples.sampleCost(),
    expect: ['Estimated cost: $4.28', 'expected $4.28', 'low $3.69', '2000 steps', '$3.50 per hour', 'checked 2026-11-23', 'Learned from 3 of your jobs', '$4.20', '$37.85', 'Replicate monthly', 'Submit (about $4.28)'],
    click: { selector: '#submit', request: { method: 'cost.confirm', params: { proceed: true } }, after: 'Submitting' },
  },
  {
    view: 'cost', name: 'cost-blocked', title: 'Cost estimate', data: samples.sampleCostBlocked(),
    expect: ['Blocked by a spending limit', 'Blocked by the replicate monthly limit of $35.00', '$35.68 with this job'],
    disabled: '#submit',
  },
  {
    view: 'job', title: 'Job details', data: samples.sampleJob(),
    expect: ['fox-lora/config.json', 'running', 'step 600 of 1000', 'Loss and learning rate', 'learning rate', '$3.50 per hour', '$2.43', '$1.46', 'multidatabackend.json', 'Allowed once', 'ada/fox-lora'],
    chart: true,
    click: { selector: '#show-logs', request: { method: 'job.showLogs', params: { jobId: 'mi3k2x7q-a1b2c3' } } },
  },
  {
    view: 'job', name: 'job-gpu', title: 'Job details', data: samples.sampleSshJob(),
    expect: ['fox-lora on gpu-box', 'Loss and learning rate', 'GPU use', 'minutes since start', 'utilisation % (mean of GPUs)', 'GPU 0: 4% · 30.1/79.6 GiB · 95 W', 'GPU idle — data loading bound?'],
    chart: true,
    chartLines: 4, // loss + lr above, GPU utilisation + memory below
  },
];

const REPLIES = {
  'consent.answer': { accepted: true }, 'cost.confirm': { accepted: true }, 'job.showLogs': {}, 'job.cancel': { status: 'cancelled' }, 'job.openOutput': {},
};

async function main() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ct-webviews-'));
  const profile = mkdtempSync(path.join(os.tmpdir(), 'ct-chromium-'));
  mkdirSync(outDir, { recursive: true });
  const failures = [];
  let browser;
  try {
    // Bundle the current sources (not whatever is in dist/) so the screenshots show this checkout.
    // Same options as scripts/build.mjs's webview bundle, including its zod English-only locale trim.
    const zodEnglishOnly = {
      name: 'zod-english-only',
      setup(b) {
        b.onResolve({ filter: /[\\/]locales[\\/]index\.js$/ }, (a) =>
          /[\\/]zod[\\/]/.test(a.importer) ? { path: path.resolve(path.dirname(a.importer), '../locales/en.js') } : undefined);
      },
    };
    await esbuild.build({
      absWorkingDir: root, bundle: true, platform: 'browser', target: 'es2022', format: 'iife', logLevel: 'warning', minify: true, plugins: [zodEnglishOnly],
      entryPoints: VIEWS.map((v) => ({ in: `webview/${v.view}/main.ts`, out: v.view })), outdir: path.join(tmp, 'webview'),
    });
    // A fresh profile directory each run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1000, height: 800 },
      deviceScaleFactor: 1,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    for (const theme of Object.keys(THEMES)) {
      for (const v of VIEWS) {
        const name = `${v.name ?? v.view}-${theme}`;
        const problems = await renderOne(browser, tmp, v, theme, path.join(outDir, `${name}.png`));
        for (const p of problems) failures.push(`${name}: ${p}`);
        console.log(`${problems.length ? 'FAIL' : 'ok  '} ${name}.png${problems.length ? `\n       ${problems.join('\n       ')}` : ''}`);
      }
    }
  } finally {
    await browser?.close();
    rmSync(tmp, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
  console.log(failures.length ? `${failures.length} check(s) failed` : `all webviews rendered with their data → ${path.relative(root, outDir)}/`);
  return failures.length ? 1 : 0;
}

async function renderOne(browser, tmp, v, theme, pngPath) {
  const problems = [];
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Refuse anything that is not a local file: webviews must not touch the network.
  await page.route(/^(?!file:).*/, (r) => { problems.push(`network request: ${r.request().url()}`); return r.abort(); });
  await page.addInitScript(({ view, data, vars, replies }) => {
    window.__posted = [];
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`));
    document.addEventListener('DOMContentLoaded', () => {
      for (const [k, val] of Object.entries(vars)) document.documentElement.style.setProperty(k, val);
    });
    window.acquireVsCodeApi = () => ({
      postMessage(m) {
        window.__posted.push(m);
        // Answer like the host does: init after ready, a reply per request, asynchronously.
        if (m.type === 'ready') setTimeout(() => window.postMessage({ type: 'init', view, data }, '*'), 0);
        if (m.type === 'request') setTimeout(() => window.postMessage({ type: 'reply', id: m.id, ok: true, result: replies[m.method] }, '*'), 0);
      },
      getState: () => window.__state,
      setState: (s) => { window.__state = s; },
    });
  }, { view: v.view, data: v.data, vars: THEMES[theme], replies: REPLIES });

  const html = webviewHtml({
    view: v.view, title: v.title, cspSource: 'file:',
    scriptUri: pathToFileURL(path.join(tmp, 'webview', `${v.view}.js`)).href,
    styleUri: pathToFileURL(path.join(root, 'media', 'webview.css')).href,
  });
  const htmlPath = path.join(tmp, `${v.name ?? v.view}-${theme}.html`);
  writeFileSync(htmlPath, html);
  await page.goto(pathToFileURL(htmlPath).href);
  try {
    await page.waitForSelector('body[data-rendered="1"]', { timeout: 15_000 });
    await page.waitForLoadState('load');
    await page.waitForTimeout(150); // the toolkit applies theme tokens on load
  } catch {
    problems.push('the view never rendered its data');
  }
  // textContent, not innerText: headings and tags are upper-cased by CSS.
  const text = await page.evaluate(() => document.body.textContent);
  for (const s of v.expect) if (!text.includes(s)) problems.push(`missing text "${s}"`);
  if (v.chart) {
    const chart = await page.evaluate(() => [...document.querySelectorAll('svg.chart path.line')].map((p) => (p.getAttribute('d') ?? '').split('L').length));
    const want = v.chartLines ?? 2;
    if (chart.length !== want || chart.some((n) => n < 50)) problems.push(`chart lines: expected ${want} with 50+ points, got ${JSON.stringify(chart)}`);
    const state = await page.evaluate(() => window.__state);
    if (state?.jobId !== v.data.job.id) problems.push('job id not saved in the webview state (panel restore needs it)');
  }
  if (v.disabled && !(await page.evaluate((sel) => document.querySelector(sel)?.hasAttribute('disabled'), v.disabled))) problems.push(`${v.disabled} should be disabled`);
  const ready = await page.evaluate(() => window.__posted.filter((m) => m.type === 'ready').length);
  if (ready !== 1) problems.push(`expected one ready message, got ${ready}`);
  await page.screenshot({ path: pngPath, fullPage: true });

  if (v.click) {
    await page.click(v.click.selector);
    await page.waitForTimeout(200);
    const posted = await page.evaluate(() => window.__posted.filter((m) => m.type === 'request'));
    const req = posted[0];
    if (!req || req.method !== v.click.request.method || JSON.stringify(req.params) !== JSON.stringify(v.click.request.params)) {
      problems.push(`clicking ${v.click.selector} should send ${JSON.stringify(v.click.request)}, sent ${JSON.stringify(posted)}`);
    }
    if (v.click.after && !(await page.evaluate(() => document.body.textContent)).includes(v.click.after)) problems.push(`after the click, missing "${v.click.after}"`);
  }
  if (v.view === 'job' && !v.name) problems.push(...(await checkLiveUpdate(page, v.data)));
  const csp = await page.evaluate(() => window.__cspViolations);
  for (const c of csp) problems.push(`CSP violation: ${c}`);
  const logged = await page.evaluate(() => window.__posted.filter((m) => m.type === 'log'));
  for (const l of logged) problems.push(`page logged ${l.level}: ${l.message}`);
  await page.close();
  return problems;
}

/** The job view is live: an `update` redraws it (more chart points), and a malformed message is refused and reported. */
async function checkLiveUpdate(page, data) {
  const problems = [];
  const metrics = [...data.job.metrics];
  for (let step = 610; step <= 700; step += 10) metrics.push({ step, loss: 0.05, learningRate: 3e-4 });
  const updated = { ...data, job: { ...data.job, metrics, progress: { ...data.job.progress, step: 700, percent: 70 } } };
  const before = await page.evaluate(() => Number(document.body.dataset.rendered));
  await page.evaluate((u) => window.postMessage({ type: 'update', view: 'job', data: u }, '*'), updated);
  await page.waitForFunction((n) => Number(document.body.dataset.rendered) > n, before, { timeout: 5000 }).catch(() => problems.push('update was not drawn'));
  if (!(await page.evaluate(() => document.body.textContent)).includes('step 700 of 1000')) problems.push('update: missing "step 700 of 1000"');
  const points = await page.evaluate(() => (document.querySelector('svg.chart path.line')?.getAttribute('d') ?? '').split('L').length);
  if (points !== 70) problems.push(`update: expected 70 loss points, got ${points}`);
  // A malformed update must not reach the view; the page tells the host why.
  await page.evaluate(() => window.postMessage({ type: 'update', view: 'job', data: { job: { id: 42 } } }, '*'));
  await page.waitForTimeout(100);
  const logs = await page.evaluate(() => window.__posted.filter((m) => m.type === 'log').map((m) => m.message));
  if (!logs.some((m) => /bad job data in update/.test(m))) problems.push(`malformed update was not reported: ${JSON.stringify(logs)}`);
  if (!(await page.evaluate(() => document.body.textContent)).includes('step 700 of 1000')) problems.push('malformed update replaced the view');
  // Those reports were expected; do not count them as page errors below.
  await page.evaluate(() => { window.__posted = window.__posted.filter((m) => !(m.type === 'log' && /bad job data in update/.test(m.message))); });
  return problems;
}

process.exitCode = await main();
