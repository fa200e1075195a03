import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateWebhook } from 'replicate';
import { applyStatus } from '../../../src/core/jobs/monitor';
import { Harness, startHarness, submitJob, trainerOptions, waitFor } from './harness';
import { checkInput } from '../../../src/providers/replicate/input-schema';
import { costFor, parseHardware } from '../../../src/providers/replicate/hardware';
import { mapStatus } from '../../../src/providers/replicate/status';
import { parseRetryAfter } from '../../../src/core/net/retry-after';
import { scrub } from '../../../src/providers/replicate/errors';
import { ReplicateOptionsSchema } from '../../../src/providers/replicate/options';
import { replicateOptionsFromFlags, replicateProviderFromEnv } from '../../../src/providers/replicate/cli-options';
import { trainableSchema } from '../../support/replicate-server/schemas';

describe('replicate webhooks', function () {
  this.timeout(20_000);
  let h: Harness;
  let receiver: http.Server;
  afterEach(async () => { await h.close(); await new Promise((r) => receiver.close(r)); });

  it('signed webhooks from Replicate verify and drive the job to the end without polling', async () => {
    h = await startHarness();
    const secret = await h.provider.webhookSecret();
    assert.match(secret, /^whsec_/);
    const verdicts: boolean[] = [];
    receiver = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const ok = await validateWebhook({ headers: req.headers as Record<string, string>, body } as never, secret);
      verdicts.push(ok);
      if (!ok) { res.writeHead(401).end(); return; }
      const jobId = new URL(req.url!, 'http://x').searchParams.get('job')!;
      const job = (await h.history.get(jobId))!;
      const update = h.provider.handleWebhook(job, JSON.parse(body));
      await h.history.update(jobId, (j) => applyStatus(j, update));
      res.writeHead(200).end();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/api/cloud/webhooks/replicate`;

    const job = await submitJob(h, trainerOptions({ webhookUrl: url }));
    const done = await waitFor(async () => { const j = await h.history.get(job.id); return j?.status === 'succeeded' ? j : undefined; });
    await waitFor(() => (h.server.webhooks.every((d) => d.status !== undefined) ? true : undefined)); // last answers in flight
    assert.ok(verdicts.length >= 3 && verdicts.every(Boolean), `all ${verdicts.length} deliveries verified`);
    assert.equal(h.server.count('GET', /^\/predictions\/[^/]+$/), 0, 'no polling was needed');
    assert.ok(done.cost?.actual && done.cost.actual > 0);
    // The logs carried by the last webhook serve fetchLogs without another request.
    const bytes = await h.provider.fetchLogs(done, 0, h.ctx);
    assert.equal(bytes!.toString('utf8'), h.server.runs.get(done.providerJobId!)!.logs);

    // A tampered delivery does not verify.
    const d = h.server.webhooks.at(-1)!;
    assert.equal(await validateWebhook({ headers: d.headers, body: d.body.replace('succeeded', 'failed') } as never, secret), false);
  });
});

describe('replicate provider pieces', () => {
  it('maps every Replicate state', () => {
    assert.deepEqual(['starting', 'processing', 'succeeded', 'failed', 'canceled', 'aborted'].map((s) => mapStatus(s as never)),
      ['starting', 'running', 'succeeded', 'failed', 'cancelled', 'failed']);
    assert.equal(mapStatus('aborted', true), 'cancelled');
  });

  it('prices by the hardware actually used, times its GPU count', () => {
    assert.deepEqual(parseHardware('h100-x8'), { sku: 'gpu-h100', gpus: 8, pricePerSecond: 0.001525 * 8 });
    assert.equal(parseHardware('gpu-l40s').gpus, 1);
    assert.equal(costFor('l40s', 100).actual, 0.097222);
    assert.equal(costFor('gpu-a100-large', 100).actual, undefined, 'unknown hardware: no made-up price');
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(null), undefined);
  });

  it('checks inputs against a Cog openapi schema', () => {
    const schema = trainableSchema(['input_images', 'trigger_word']);
    const r = checkInput(schema, 'TrainingInput', { input_images: 'not a url', steps: 1, lora_rank: 16 });
    assert.equal(r.ok, false);
    assert.deepEqual(r.problems, ['missing required input "trigger_word"', 'input "input_images" must be a URL', 'input "steps" must be ≥ 3']);
    assert.equal(checkInput(schema, 'TrainingInput', { input_images: 'https://x/y.zip', trigger_word: 'T', lora_rank: 8 }).ok, true);
    const strict = { components: { schemas: { Input: { type: 'object', additionalProperties: false, properties: { a: { type: 'string' } } } } } };
    assert.deepEqual(checkInput(strict, 'Input', { b: 1 }).problems, ['the model has no input "b"']);
  });

  it('scrubs tokens from messages', () => {
    assert.equal(scrub('token r8_abcdefghijklmnop and Bearer xyz', []), 'token r8_*** and Bearer ***');
    assert.equal(scrub('secret-value-1 leaked', ['secret-value-1']), '*** leaked');
  });

  it('validates submit options and defaults to the trainer mode', () => {
    const ok = ReplicateOptionsSchema.parse({ configJson: { a: 1 }, dataloaderJson: [{ id: 'x' }] });
    assert.equal(ok.mode, 'trainer');
    assert.equal((ok as { configJson: string }).configJson, '{"a":1}');
    assert.equal(ReplicateOptionsSchema.safeParse({ mode: 'trainable', model: 'nope' }).success, false);
  });

  it('builds options from CLI flags', () => {
    const t = replicateOptionsFromFlags({ profile: 'h100', hubModelId: 'me/x', maxTrainSteps: '10' }, { configJson: '{}', dataloaderJson: '[]' });
    assert.deepEqual(t, { mode: 'trainer', profile: 'h100', configJson: '{}', dataloaderJson: '[]', maxTrainSteps: 10, hubModelId: 'me/x' });
    const tr = replicateOptionsFromFlags({ mode: 'trainable', model: 'a/b', destination: 'me/c', input: ['steps=100', 'trigger_word=ZX'] }, { configJson: '', dataloaderJson: '' });
    assert.deepEqual(tr, { mode: 'trainable', model: 'a/b', destination: 'me/c', input: { steps: 100, trigger_word: 'ZX' } });
    assert.equal(ReplicateOptionsSchema.safeParse(tr).success, true);
  });

  it('returns only whole log lines while a job runs (a half line comes complete next time)', async () => {
    const h = await startHarness();
    try {
      h.server.script = { ...h.server.script, chunks: ['one\n', 'tw', 'o\nthree\n'], chunkMs: 300 };
      const job = await submitJob(h, trainerOptions());
      const run = h.server.runs.get(job.providerJobId!)!;
      await waitFor(() => (run.logs.endsWith('one\ntw') ? true : undefined));
      // The trainer's own staging lines come first (the stand-in's SimpleTuner runner): offsets count from after them.
      const pre = Buffer.byteLength(run.logs) - Buffer.byteLength('one\ntw');
      assert.ok(run.logs.slice(0, pre).endsWith('\n'));
      const active = { ...(await h.history.get(job.id))!, status: 'running' as const };
      assert.equal((await h.provider.fetchLogs(active, pre, h.ctx))!.toString(), 'one\n');
      assert.equal((await h.provider.fetchLogs(active, pre + 4, h.ctx))!.length, 0);
      await waitFor(() => (run.status === 'succeeded' ? true : undefined));
      await new Promise((r) => setTimeout(r, 10));
      assert.equal((await h.provider.fetchLogs(active, pre + 4, h.ctx))!.toString(), 'two\nthree\n');
    } finally {
      await h.close();
    }
  });

  it('the CLI factory reads REPLICATE_BASE_URL and REPLICATE_API_TOKEN', async () => {
    const h = await startHarness();
    try {
      const p = replicateProviderFromEnv({ REPLICATE_BASE_URL: h.server.base, REPLICATE_API_TOKEN: h.server.token });
      assert.deepEqual(await p.validateCredentials(), { ok: true, account: 'tester', message: 'Signed in to Replicate as tester' });
      const none = replicateProviderFromEnv({ REPLICATE_BASE_URL: h.server.base });
      assert.match((await none.validateCredentials()).message, /No Replicate API token/);
    } finally {
      await h.close();
    }
  });
});
