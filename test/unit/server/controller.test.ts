import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalServerController, ServerSettings } from '../../../src/server/controller';
import { signWebhook } from '../../../src/server/webhooks';

describe('LocalServerController', () => {
  let dir: string;
  let settings: ServerSettings;
  let controller: LocalServerController;
  const SECRET = `whsec_${Buffer.from('controller-test-secret-bytes').toString('base64')}`;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-ctl-'));
    settings = { host: '127.0.0.1', port: 0, storageDir: path.join(dir, 'a') };
    controller = new LocalServerController({ dataHome: path.join(dir, 'home'), settings: () => settings, webhookSecret: async (p) => (p === 'replicate' ? SECRET : undefined) });
  });
  afterEach(async () => {
    await controller.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('starts once on demand, restarts on changed settings and stops', async () => {
    assert.equal(controller.running, undefined);
    const [a, b] = await Promise.all([controller.ensureStarted(), controller.ensureStarted()]);
    assert.equal(a, b);
    assert.equal((await fetch(`${a.url}/api/cloud/health`)).status, 200);
    await fs.access(path.join(dir, 'a', '.cloudtrain'));

    settings = { ...settings, storageDir: path.join(dir, 'b') };
    await controller.settingsChanged();
    const c = controller.running!;
    assert.notEqual(c, a);
    await fs.access(path.join(dir, 'b', '.cloudtrain'));
    assert.equal(c.port, a.port, 'port 0 reuses the port it had, so URLs given to jobs keep working');

    await controller.stop();
    assert.equal(controller.running, undefined);
    await assert.rejects(fetch(`${c.url}/api/cloud/health`));
  });

  it('after a restart, comes back on the same port when a job still holds credentials', async () => {
    assert.equal(await controller.resumeIfNeeded(), undefined, 'nothing to resume: no job credentials');
    const creds = await controller.credentials();
    await creds.mintJobCredentials({ jobId: 'j1', bucket: 'cloud-training', prefix: 'jobs/j1/', ttlSeconds: 600 });
    const first = await controller.ensureStarted();
    await controller.stop();

    // A new window: a new controller over the same data folder.
    const again = new LocalServerController({ dataHome: path.join(dir, 'home'), settings: () => settings, webhookSecret: async () => undefined });
    try {
      const resumed = await again.resumeIfNeeded();
      assert.equal(resumed?.port, first.port);
    } finally {
      await again.stop();
    }
  });

  it('routes verified webhooks to the handler plugged in later, 500 before that', async () => {
    const s = await controller.ensureStarted();
    const body = JSON.stringify({ id: 't1', status: 'succeeded' });
    const post = (id: string) => {
      const ts = Math.floor(Date.now() / 1000);
      return fetch(`${s.url}/api/cloud/webhooks/replicate`, { method: 'POST', body, headers: { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signWebhook({ id, timestamp: ts, body, secret: SECRET }) } });
    };
    assert.equal((await post('m1')).status, 500);
    const got: unknown[] = [];
    controller.setWebhookHandler(async (_p, payload) => void got.push(payload));
    assert.equal((await post('m1')).status, 200);
    assert.deepEqual(got, [{ id: 't1', status: 'succeeded' }]);
  });
});
