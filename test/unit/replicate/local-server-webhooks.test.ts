import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CredentialStore, startLocalServer, LocalServer } from '../../../src/server';
import { createReplicateWebhookHandler } from '../../../src/providers/replicate/webhook';
import { Harness, startHarness, submitJob, trainerOptions, waitFor } from './harness';

describe('replicate webhooks through the extension\'s local server', function () {
  this.timeout(20_000);
  let h: Harness;
  let local: LocalServer;
  afterEach(async () => { await local?.close(); await h.close(); });

  it('verified deliveries update the job and its log mirror without polling; forged ones are refused', async () => {
    h = await startHarness();
    const secret = await h.provider.webhookSecret();
    const handle = createReplicateWebhookHandler({ history: h.history, provider: () => h.provider, dataHome: h.dir, log: (l) => h.logs.push(l) });
    local = await startLocalServer({
      storageDir: path.join(h.dir, 'storage'),
      credentials: new CredentialStore(),
      webhooks: { getSecret: (p) => (p === 'replicate' ? secret : undefined), handler: async (p, payload) => { if (p === 'replicate') await handle(payload); } },
    });
    const job = await submitJob(h, trainerOptions({ webhookUrl: `${local.url}/api/cloud/webhooks/replicate` }));
    const done = await waitFor(async () => { const j = await h.history.get(job.id); return j?.status === 'succeeded' ? j : undefined; });
    assert.equal(h.server.count('GET', /^\/predictions\/[^/]+$/), 0, 'webhooks alone carried the job');
    const delivered = h.server.webhooks.filter((d) => d.url.startsWith(local.url));
    await waitFor(() => (delivered.every((d) => d.status !== undefined) ? true : undefined)); // last answers in flight
    assert.ok(delivered.length >= 3 && delivered.every((d) => d.status === 200), delivered.map((d) => d.status).join(','));
    await waitFor(async () => ((await fs.readFile(done.logPath!, 'utf8').catch(() => '')) === h.server.runs.get(job.providerJobId!)!.logs ? true : undefined));

    // A forged delivery (right headers, wrong body) is refused by the server's verification.
    const last = delivered.at(-1)!;
    const forged = await fetch(last.url, { method: 'POST', headers: last.headers, body: last.body.replace('"succeeded"', '"failed"') });
    assert.equal(forged.status, 401);
    assert.equal((await h.history.get(job.id))!.status, 'succeeded');
  });
});
