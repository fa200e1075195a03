import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobSchema } from '../../../src/core/jobs/schema';
import { installVscodeShim, shim } from '../submit/vscode-shim';
import { startReceiver } from './receiver';

installVscodeShim();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createWindowNotifier } = require('../../../src/vscode/notifications/register') as typeof import('../../../src/vscode/notifications/register');

/** A window's pieces that the notifier touches: its subscriptions and SecretStorage. */
function fakeContext() {
  const secrets = new Map<string, string>();
  const listeners: Array<(e: { key: string }) => void> = [];
  return {
    subscriptions: [] as { dispose(): unknown }[],
    secrets: {
      get: async (k: string) => secrets.get(k),
      store: async (k: string, v: string) => { secrets.set(k, v); listeners.forEach((l) => l({ key: k })); },
      delete: async (k: string) => { secrets.delete(k); listeners.forEach((l) => l({ key: k })); },
      onDidChange: (l: (e: { key: string }) => void) => { listeners.push(l); return { dispose() {} }; },
    },
    stored: secrets,
  };
}
const log = { info() {}, warn() {} } as never;

describe('notifications in the editor (VS Code shim)', function () {
  this.timeout(30_000);
  let dir: string;
  const contexts: ReturnType<typeof fakeContext>[] = [];
  beforeEach(async () => { shim.reset(); dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-notify-win-')); });
  afterEach(async () => {
    for (const c of contexts.splice(0)) for (const d of c.subscriptions) d.dispose();
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  const ended = (id: string, status: 'failed' | 'succeeded', over: object = {}) => JobSchema.parse({
    id, name: `run ${id}`, provider: 'local', status, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
    metadata: { finalized: true, events: { [status]: new Date().toISOString() } }, ...over,
  });
  const openWindow = () => {
    const context = fakeContext();
    contexts.push(context);
    return { context, notifier: createWindowNotifier(context as never, new JobHistory(dir), log) };
  };

  it('two windows: one message per event, the failure with its reason; its button runs the job command with the job id', async () => {
    const history = new JobHistory(dir);
    await history.add(ended('f', 'failed', { error: 'Training command exited with code 1' }));
    await history.add(ended('s', 'succeeded'));
    shim.messageChoice = 'Show Logs';
    const [a, b] = [openWindow(), openWindow()];
    await Promise.all([a.notifier.scan(), b.notifier.scan()]);
    assert.deepEqual(shim.messages.map((m) => [m.level, m.text]).sort(), [
      ['error', 'Job "run f" failed (local): Training command exited with code 1'],
      ['info', 'Job "run s" succeeded (local)'],
    ]);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(shim.executed.filter((e) => e.id === 'cloudTraining.showLogs').map((e) => e.args[0]).sort(), ['f', 's']);
    const reloaded = openWindow();
    await reloaded.notifier.scan();
    assert.equal(shim.messages.length, 2, 'a reloaded window shows nothing again');
  });

  it('cloudTraining.notifications.level "failures" keeps the success quiet', async () => {
    shim.config['cloudTraining.notifications.level'] = 'failures';
    const history = new JobHistory(dir);
    await history.add(ended('f', 'failed'));
    await history.add(ended('s', 'succeeded'));
    await openWindow().notifier.scan();
    assert.deepEqual(shim.messages.map((m) => m.level), ['error']);
  });

  it('Set Notification Webhook… stores URL and format in SecretStorage, and the window then sends there', async () => {
    const rx = await startReceiver(() => 'k', []);
    try {
      const w = openWindow();
      shim.inputBox = () => rx.url;
      shim.pick = (items) => items.find((i) => i.label === 'json');
      await shim.commands.get('cloudTraining.setNotificationWebhook')!();
      assert.deepEqual(JSON.parse([...w.context.stored.values()][0]!), { url: rx.url, format: 'json' });
      await new JobHistory(dir).add(ended('f', 'failed'));
      await w.notifier.flush(5000);
      assert.equal(rx.received.length, 1);
      assert.equal(JSON.parse(rx.received[0]!.body).event, 'failed');
    } finally { await rx.close(); }
  });
});
