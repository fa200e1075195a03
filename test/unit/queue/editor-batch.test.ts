import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ExtensionServices } from '../../../src/vscode/services';
import type { CostViewData } from '../../../webview/shared/protocol';
import { isLocallyQueued } from '../../../src/core/queue/schema';
import { harness, type Harness } from '../submit/fixtures';
import { installVscodeShim, shim, Uri, type Page } from '../submit/vscode-shim';

installVscodeShim();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { registerSubmit } = require('../../../src/vscode/submit/register') as typeof import('../../../src/vscode/submit/register');

const root = path.resolve(__dirname, '../../..');

/** Explorer multi-select → Submit…: VS Code calls the command with (clicked uri, every selected uri). */
describe('editor: Submit… on several configs selected in the explorer (vscode shim)', function () {
  this.timeout(30_000);
  let h: Harness;
  let services: ExtensionServices;
  beforeEach(() => {
    shim.reset();
    h = harness();
    const log = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error'].map((l) => [l, () => undefined]));
    services = {
      context: { subscriptions: [], extensionUri: Uri.file(root) } as unknown as ExtensionServices['context'],
      history: h.history, layout: h.layout, providers: h.providers, log: log as unknown as ExtensionServices['log'],
    };
  });
  afterEach(async () => {
    for (const d of (services.context.subscriptions as { dispose(): unknown }[])) d.dispose();
    shim.reset();
    await h.dispose();
  });

  it('a paid provider: consent and cost asked once for the batch, the cost view shows the batch total, one job per config in order', async () => {
    shim.pick = (items) => items.find((i) => i.description === 'replicate') ?? items.find((i) => i.label.includes('L40S')) ?? items[0];
    registerSubmit(services);
    const second = path.join(h.ws.workspace, 'config', 'config2.json');
    await fs.copyFile(h.ws.config, second);
    const seen: string[] = [];
    shim.autopilot = (page: Page) => {
      seen.push(page.view);
      if (page.view === 'consent') void page.client.request('consent.answer', { answer: 'once' });
      if (page.view === 'cost') void page.client.request('cost.confirm', { proceed: true });
    };
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config), [Uri.file(h.ws.config), Uri.file(second)]);
    assert.deepEqual(seen, ['consent', 'cost']);
    const cost = shim.pages.find((p) => p.view === 'cost')!.data[0] as CostViewData;
    assert.equal(cost.estimate.steps, 200, 'two configs of 100 steps');
    const jobs = (await h.history.list()).reverse();
    assert.deepEqual(jobs.map((j) => j.configPaths.training), [h.ws.config, second]);
    assert.equal(h.cloud.submitted.length, 2);
  });

  it('this machine with a queue of capacity 1: the first runs, the second is queued', async () => {
    shim.pick = (items) => items.find((i) => i.description === 'local') ?? items[0];
    shim.config = { 'cloudTraining.local.command': 'sleep 1' } as typeof shim.config;
    services.queue = { capacity: async () => 1 } as unknown as ExtensionServices['queue'];
    registerSubmit(services);
    const second = path.join(h.ws.workspace, 'config', 'config2.json');
    await fs.copyFile(h.ws.config, second);
    shim.autopilot = () => undefined;
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config), [Uri.file(h.ws.config), Uri.file(second)]);
    const jobs = (await h.history.list()).reverse();
    assert.equal(jobs.length, 2, JSON.stringify(shim.messages));
    assert.equal(jobs[0]!.status, 'running');
    assert.ok(isLocallyQueued(jobs[1]!));
    assert.ok(shim.messages.some((m) => /2 jobs.*1 started, 1 queued/.test(JSON.stringify(m))), JSON.stringify(shim.messages));
  });
});
