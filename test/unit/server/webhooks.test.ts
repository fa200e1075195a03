import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { validateWebhook } from 'replicate';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CredentialStore, LocalServer, startLocalServer } from '../../../src/server/index';
import { replayFile, signWebhook, verifyWebhookSignature } from '../../../src/server/webhooks';
import { TestServer, startTestServer } from './helpers';

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

describe('webhook receiver', () => {
  describe('verifyWebhookSignature', () => {
    const body = JSON.stringify({ id: 'train-1', status: 'succeeded', metrics: { predict_time: 12.5 } });
    const now = 1_800_000_000;

    it('accepts a valid signature, and the replicate package agrees', async () => {
      const signature = signWebhook({ id: 'msg_1', timestamp: now, body, secret: SECRET });
      assert.deepEqual(verifyWebhookSignature({ id: 'msg_1', timestamp: String(now), signatureHeader: signature, body, secret: SECRET, nowSeconds: now }), { ok: true });
      // Second opinion: Replicate's own client validates the same request (it checks no timestamp window).
      assert.equal(await validateWebhook({ id: 'msg_1', timestamp: String(now), signature, body, secret: SECRET }), true);
      // Several entries (key rotation): any matching v1 entry is enough.
      const multi = `v1,${randomBytes(32).toString('base64')} ${signature}`;
      assert.equal(verifyWebhookSignature({ id: 'msg_1', timestamp: String(now), signatureHeader: multi, body, secret: SECRET, nowSeconds: now }).ok, true);
    });

    it('rejects a wrong secret, a changed body, an old or future timestamp and missing headers', async () => {
      const signature = signWebhook({ id: 'msg_1', timestamp: now, body, secret: SECRET });
      const wrong = `whsec_${randomBytes(24).toString('base64')}`;
      assert.deepEqual(verifyWebhookSignature({ id: 'msg_1', timestamp: String(now), signatureHeader: signature, body, secret: wrong, nowSeconds: now }), { ok: false, reason: 'signature-mismatch' });
      assert.equal(await validateWebhook({ id: 'msg_1', timestamp: String(now), signature, body, secret: wrong }), false);
      assert.equal(verifyWebhookSignature({ id: 'msg_1', timestamp: String(now), signatureHeader: signature, body: body.replace('12.5', '0.1'), secret: SECRET, nowSeconds: now }).ok, false);
      assert.equal(verifyWebhookSignature({ id: 'msg_2', timestamp: String(now), signatureHeader: signature, body, secret: SECRET, nowSeconds: now }).ok, false);
      assert.deepEqual(verifyWebhookSignature({ id: 'msg_1', timestamp: String(now), signatureHeader: signature, body, secret: SECRET, nowSeconds: now + 301 }), { ok: false, reason: 'timestamp-out-of-tolerance' });
      assert.deepEqual(verifyWebhookSignature({ id: 'msg_1', timestamp: String(now), signatureHeader: signature, body, secret: SECRET, nowSeconds: now - 301 }), { ok: false, reason: 'timestamp-out-of-tolerance' });
      assert.equal(verifyWebhookSignature({ id: 'msg_1', timestamp: String(now), signatureHeader: signature, body, secret: SECRET, nowSeconds: now + 299 }).ok, true);
      assert.deepEqual(verifyWebhookSignature({ id: undefined, timestamp: String(now), signatureHeader: signature, body, secret: SECRET, nowSeconds: now }), { ok: false, reason: 'missing-headers' });
      assert.equal(verifyWebhookSignature({ id: 'msg_1', timestamp: String(now), signatureHeader: signature.replace('v1,', 'v2,'), body, secret: SECRET, nowSeconds: now }).ok, false);
    });
  });

  describe('route /api/cloud/webhooks/{provider}', () => {
    let t: TestServer;
    const received: Array<{ provider: string; payload: unknown }> = [];
    let failNext = false;
    beforeEach(async () => {
      received.length = 0;
      t = await startTestServer({
        webhooks: {
          getSecret: (p) => (p === 'replicate' ? SECRET : undefined),
          handler: async (provider, payload) => {
            if (failNext) {
              failNext = false;
              throw new Error('history busy');
            }
            received.push({ provider, payload });
          },
        },
      });
    });
    afterEach(async () => {
      await t.dispose();
    });

    const post = (provider: string, body: string, headers: Record<string, string>) =>
      fetch(`${t.server.url}/api/cloud/webhooks/${provider}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    const signed = (id: string, body: string, ts = Math.floor(Date.now() / 1000), secret = SECRET) => ({
      'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signWebhook({ id, timestamp: ts, body, secret }),
    });

    it('delivers a verified webhook once and refuses its replay', async () => {
      const body = JSON.stringify({ id: 'train-9', status: 'processing' });
      const h = signed('msg_a', body);
      const r1 = await post('replicate', body, h);
      assert.equal(r1.status, 200);
      assert.deepEqual(received, [{ provider: 'replicate', payload: { id: 'train-9', status: 'processing' } }]);
      const r2 = await post('replicate', body, h);
      assert.equal(r2.status, 409);
      assert.equal(received.length, 1);
    });

    it('refuses bad signatures, old timestamps, unsigned requests and unknown providers', async () => {
      const body = JSON.stringify({ id: 'x' });
      assert.equal((await post('replicate', body, signed('m1', body, undefined, `whsec_${randomBytes(24).toString('base64')}`))).status, 401);
      assert.equal((await post('replicate', body, signed('m2', body, Math.floor(Date.now() / 1000) - 600))).status, 401);
      assert.equal((await post('replicate', body, {})).status, 401);
      assert.equal((await post('replicate', `${body} `, signed('m3', body))).status, 401);
      assert.equal((await post('nosuch', body, signed('m4', body))).status, 404);
      assert.equal(received.length, 0);
    });

    it('lets the sender retry a delivery whose handler failed', async () => {
      const body = JSON.stringify({ id: 'train-2', status: 'succeeded' });
      const h = signed('msg_retry', body);
      failNext = true;
      assert.equal((await post('replicate', body, h)).status, 500);
      assert.equal((await post('replicate', body, h)).status, 200);
      assert.equal(received.length, 1);
    });
  });

  describe('replay protection across restarts', () => {
    let dir: string;
    let server: LocalServer | undefined;
    const received: unknown[] = [];
    const logs: string[] = [];
    beforeEach(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-wh-'));
      received.length = 0;
      logs.length = 0;
    });
    afterEach(async () => {
      await server?.close();
      server = undefined;
      await fs.rm(dir, { recursive: true, force: true });
    });
    const start = async (stateDir?: string): Promise<LocalServer> => {
      await server?.close();
      server = await startLocalServer({
        storageDir: path.join(dir, 'storage'), stateDir, credentials: new CredentialStore(), log: (l) => logs.push(l),
        webhooks: { getSecret: (p) => (p === 'replicate' ? SECRET : undefined), handler: async (_p, payload) => void received.push(payload) },
      });
      return server;
    };
    const deliver = (s: LocalServer, id: string, body: string) => {
      const ts = Math.floor(Date.now() / 1000);
      return fetch(`${s.url}/api/cloud/webhooks/replicate`, {
        method: 'POST', body,
        headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signWebhook({ id, timestamp: ts, body, secret: SECRET }) },
      });
    };

    it('a new server over the same folder refuses an id the old one accepted', async () => {
      const stateDir = path.join(dir, 'home', 'server');
      const body = JSON.stringify({ id: 'train-r', status: 'succeeded' });
      const first = await deliver(await start(stateDir), 'msg_restart', body);
      assert.equal(first.status, 200);
      const saved = JSON.parse(await fs.readFile(replayFile(stateDir), 'utf8'));
      assert.deepEqual(saved.seen.map((e: { key: string }) => e.key), ['replicate:msg_restart']);
      assert.ok(!JSON.stringify(saved).includes(SECRET.slice(6)), 'no secret in the replay file');

      const second = await deliver(await start(stateDir), 'msg_restart', body);
      assert.equal(second.status, 409);
      assert.equal((await deliver(server!, 'msg_other', body)).status, 200);
      assert.equal(received.length, 2);
      // Without a stateDir the file lives beside the storage, in its internal folder.
      assert.equal((await deliver(await start(), 'msg_default', body)).status, 200);
      await fs.access(replayFile(path.join(dir, 'storage', '.cloudtrain')));
    });

    it('prunes expired ids from the file and treats a damaged file as empty', async () => {
      const stateDir = path.join(dir, 'state');
      await fs.mkdir(stateDir, { recursive: true });
      const old = Math.floor(Date.now() / 1000) - 3600;
      await fs.writeFile(replayFile(stateDir), JSON.stringify({ version: 1, seen: [{ key: 'replicate:ancient', until: old }] }));
      const s = await start(stateDir);
      assert.equal((await deliver(s, 'msg_1', '{"id":"a"}')).status, 200);
      const saved = JSON.parse(await fs.readFile(replayFile(stateDir), 'utf8'));
      assert.deepEqual(saved.seen.map((e: { key: string }) => e.key), ['replicate:msg_1']);

      await server!.close();
      server = undefined;
      await fs.writeFile(replayFile(stateDir), '{"version":1,"seen":[{"key":');
      const s2 = await start(stateDir);
      assert.equal((await deliver(s2, 'msg_2', '{"id":"b"}')).status, 200);
      assert.ok(logs.some((l) => /replay file .* damaged/.test(l)), logs.join('\n'));
      // The damaged file was replaced by a good one.
      assert.deepEqual(JSON.parse(await fs.readFile(replayFile(stateDir), 'utf8')).seen.map((e: { key: string }) => e.key), ['replicate:msg_2']);
      assert.equal((await deliver(s2, 'msg_2', '{"id":"b"}')).status, 409);
    });

    it('refuses an over-long webhook-id at the door, so one delivery cannot wipe the replay memory', async () => {
      const stateDir = path.join(dir, 'state');
      const s = await start(stateDir);
      assert.equal((await deliver(s, 'msg_keep', '{"id":"a"}')).status, 200);
      // Validly signed, but the id is longer than anything the replay file can hold.
      const long = `msg_${'x'.repeat(696)}`;
      const r = await deliver(s, long, '{"id":"b"}');
      assert.equal(r.status, 400);
      assert.match(await r.text(), /webhook-id longer than 256/);
      assert.equal(received.length, 1);
      assert.ok(!(await fs.readFile(replayFile(stateDir), 'utf8')).includes(long));
      // The id at the limit is fine.
      assert.equal((await deliver(s, 'y'.repeat(256), '{"id":"c"}')).status, 200);
      // After a restart the first id is still remembered.
      const s2 = await start(stateDir);
      assert.equal((await deliver(s2, 'msg_keep', '{"id":"a"}')).status, 409);
      assert.equal((await deliver(s2, 'y'.repeat(256), '{"id":"c"}')).status, 409);
    });

    it('keeps every good entry of a replay file when some entries are bad', async () => {
      const stateDir = path.join(dir, 'state');
      await fs.mkdir(stateDir, { recursive: true });
      const until = Math.floor(Date.now() / 1000) + 300;
      await fs.writeFile(replayFile(stateDir), JSON.stringify({
        version: 1,
        seen: [
          { key: 'replicate:good_1', until },
          { key: `replicate:${'z'.repeat(700)}`, until }, // too long (written by an older version)
          { key: 'replicate:bad_until', until: 'soon' },
          null,
          { key: 'replicate:good_2', until },
        ],
      }));
      const s = await start(stateDir);
      assert.equal((await deliver(s, 'good_1', '{"id":"a"}')).status, 409);
      assert.equal((await deliver(s, 'good_2', '{"id":"a"}')).status, 409);
      assert.equal((await deliver(s, 'bad_until', '{"id":"a"}')).status, 200);
      assert.ok(logs.some((l) => /skipped 3 damaged entries, kept 2/.test(l)), logs.join('\n'));
      assert.equal(received.length, 1);
    });
  });
});
