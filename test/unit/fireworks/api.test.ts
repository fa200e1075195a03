import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateSftJob, FireworksApi, FireworksApiError, FireworksJob, datasetIdFor, isTerminalState } from '../../../src/providers/fireworks/api';
import { FakeFireworks } from '../../support/fireworks-server/server';

/** Our Fireworks client against the stand-in built from the Fireworks REST reference. */
describe('fireworks api layer (client against the Fireworks stand-in)', function () {
  this.timeout(20_000);
  let server: FakeFireworks;
  let api: FireworksApi;
  let dir: string;
  let dataset: string;
  let sha: string;

  const chat = (i: number) => JSON.stringify({ messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: `q${i}` }, { role: 'assistant', content: `a${i} ✓` }] });
  const make = (o: Partial<ConstructorParameters<typeof FireworksApi>[0]> = {}) =>
    new FireworksApi({ apiKey: server.apiKey, accountId: server.account, baseUrl: server.base, timeoutMs: 5000, backoffMs: 20, maxRetryAfterMs: 3000, ...o });
  const spec = (id: string): CreateSftJob => ({ dataset: `accounts/${server.account}/datasets/${id}`, baseModel: 'accounts/fireworks/models/llama-v3p1-8b-instruct', epochs: 2, loraRank: 16, displayName: 'ct test' });

  beforeEach(async () => {
    server = new FakeFireworks();
    await server.start();
    api = make();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-fireworks-'));
    dataset = path.join(dir, 'train.jsonl');
    const text = Array.from({ length: 20_000 }, (_, i) => chat(i)).join('\n') + '\n';
    await fs.writeFile(dataset, text);
    sha = createHash('sha256').update(text).digest('hex');
  });
  afterEach(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function pollToEnd(id: string): Promise<{ job: FireworksJob; seen: string[]; percents: number[] }> {
    const seen: string[] = [];
    const percents: number[] = [];
    for (let i = 0; i < 50; i++) {
      const job = await api.getSftJob(id);
      if (seen.at(-1) !== job.state) seen.push(job.state);
      if (job.state === 'JOB_STATE_RUNNING' || job.state === 'JOB_STATE_COMPLETED') percents.push(job.jobProgress?.percent ?? -1);
      if (isTerminalState(job.state)) return { job, seen, percents };
    }
    throw new Error(`job ${id} never ended: ${seen.join(' → ')}`);
  }

  it('creates a dataset under an id derived from its sha256 and uploads it streamed (:upload under 150 MB)', async () => {
    const steps: number[] = [];
    const { dataset: ds, id, reused } = await api.ensureDataset(dataset, { onProgress: (s) => steps.push(s) });
    assert.equal(reused, false);
    assert.equal(id, datasetIdFor(sha));
    assert.equal(ds.state, 'READY');
    assert.equal(ds.exampleCount, 20_000, 'the stand-in parsed every example');
    assert.equal(server.datasets.get(id)!.sha256, sha);
    assert.equal(server.count('POST', /:upload$/), 1);
    assert.equal(server.count('POST', /:getUploadEndpoint$/), 0);
    assert.ok(steps.length > 20 && steps[0]! <= 64 * 1024, `streamed from disk (${steps.length} steps)`);
  });

  it('above the direct limit it uses the signed URL: getUploadEndpoint, PUT, validateUpload', async () => {
    server.directUploadLimit = 1024;
    const fw = make({ directUploadLimit: 1024 });
    const { dataset: ds, id } = await fw.ensureDataset(dataset);
    assert.equal(ds.state, 'READY');
    assert.equal(server.datasets.get(id)!.sha256, sha);
    assert.deepEqual(server.requests.filter((r) => /:(upload|getUploadEndpoint|validateUpload)$|^PUT /.test(r)).map((r) => r.replace(/\/v1.*:/, ':').replace(/\/signed\/\w+/, '/signed')),
      ['POST :getUploadEndpoint', 'PUT /signed', 'POST :validateUpload']);
  });

  it('reuses a dataset with the same content instead of uploading it again', async () => {
    await api.ensureDataset(dataset);
    const again = await api.ensureDataset(dataset);
    assert.equal(again.reused, true);
    assert.equal(server.count('POST', /:upload$/), 1);
    assert.equal(server.count('POST', /\/datasets$/), 1);
  });

  it('an upload whose answer was lost is looked up, not sent again', async () => {
    server.fail({ method: 'POST', path: /:upload$/, afterHandling: true, drop: true });
    const { dataset: ds } = await api.ensureDataset(dataset);
    assert.equal(ds.state, 'READY');
    assert.equal(server.count('POST', /:upload$/), 1);
  });

  it('a dataset Fireworks refuses names the line; a too-small one says so', async () => {
    await fs.writeFile(dataset, `${chat(1)}\n{"messages": [{"role": "robot", "content": "x"}]}\n${chat(3)}\n`);
    await assert.rejects(api.ensureDataset(dataset), /Fireworks refused the request \(HTTP 400\): line 2: a message has an invalid role/);
    await fs.writeFile(dataset, `${chat(1)}\n${chat(2)}\n`);
    await assert.rejects(api.ensureDataset(dataset), /at least 3 examples \(found 2\)/);
  });

  it('creates a job and polls it through the JOB_STATE_* states with jobProgress advancing', async () => {
    const { id } = await api.ensureDataset(dataset);
    const { job, recovered } = await api.createSftJob('ct-job-0001', spec(id));
    assert.equal(recovered, false);
    assert.equal(job.state, 'JOB_STATE_CREATING');
    assert.equal(job.name, `accounts/${server.account}/supervisedFineTuningJobs/ct-job-0001`);
    const end = await pollToEnd('ct-job-0001');
    assert.deepEqual(end.seen, ['JOB_STATE_PENDING', 'JOB_STATE_RUNNING', 'JOB_STATE_COMPLETED']);
    assert.deepEqual(end.percents, [0, 33, 67, 100]);
    assert.equal(end.job.outputModel, `accounts/${server.account}/models/ct-job-0001`);
  });

  it('a job Fireworks fails carries its status message', async () => {
    server.outcome = 'failed';
    const { id } = await api.ensureDataset(dataset);
    await api.createSftJob('ct-job-fail', spec(id));
    const end = await pollToEnd('ct-job-fail');
    assert.equal(end.job.state, 'JOB_STATE_FAILED');
    assert.match(end.job.status?.message ?? '', /loss is NaN/);
  });

  it('lists jobs across pages (pageToken / nextPageToken) and deletes one', async () => {
    const { id } = await api.ensureDataset(dataset);
    for (let i = 0; i < 5; i++) await api.createSftJob(`ct-job-${i}`, spec(id));
    const all = await api.listSftJobs({ pageSize: 2 });
    assert.equal(all.length, 5);
    assert.equal(new Set(all.map((j) => j.name)).size, 5);
    assert.equal(server.count('GET', /supervisedFineTuningJobs$/), 3);
    await api.deleteSftJob('ct-job-2');
    await api.deleteSftJob('ct-job-2'); // already gone: not an error
    await assert.rejects(api.getSftJob('ct-job-2'), (e: unknown) => e instanceof FireworksApiError && e.status === 404);
    assert.equal(server.jobs.size, 4);
  });

  it('takes the base URL from FIREWORKS_BASE_URL when none is given', async () => {
    const before = process.env.FIREWORKS_BASE_URL;
    process.env.FIREWORKS_BASE_URL = server.base;
    try {
      const fromEnv = new FireworksApi({ apiKey: server.apiKey, accountId: server.account });
      assert.equal(fromEnv.baseUrl, server.base);
      assert.deepEqual(await fromEnv.listSftJobs(), []);
    } finally {
      if (before === undefined) delete process.env.FIREWORKS_BASE_URL; else process.env.FIREWORKS_BASE_URL = before;
    }
  });

  it('a signed upload URL never appears in an error', async () => {
    server.directUploadLimit = 1024;
    server.fail({ method: 'PUT', path: /^\/signed\//, status: 403 });
    const e = await make({ directUploadLimit: 1024, maxRetries: 0 }).ensureDataset(dataset).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof FireworksApiError, String(e));
    assert.equal(e.status, 403);
    assert.match(e.message, /the signed upload URL was refused \(HTTP 403\)/);
    assert.ok(!/signed\/|X-Goog-Signature/.test(e.message), e.message);
  });

  it('a wrong key gives one clear message without the key, and creates nothing', async () => {
    const wrong = 'fw_wrongwrongwrongwrong012345';
    const bad = make({ apiKey: wrong });
    for (const call of [() => bad.ensureDataset(dataset), () => bad.createSftJob('ct-x', spec('x')), () => bad.listSftJobs()]) {
      const e = await call().then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof FireworksApiError, String(e));
      assert.equal(e.status, 401);
      assert.match(e.message, /Fireworks rejected the API key \(HTTP 401\)/);
      assert.ok(!e.message.includes(wrong) && !(e.stack ?? '').includes(wrong));
    }
    assert.equal(server.datasets.size, 0);
    assert.equal(server.jobs.size, 0);
  });

  it('a 429 is retried after Retry-After, on reads and on create (created once)', async () => {
    const { id } = await api.ensureDataset(dataset);
    server.fail({ method: 'POST', path: /supervisedFineTuningJobs$/, status: 429, retryAfter: '1' });
    const t0 = Date.now();
    await api.createSftJob('ct-job-429', spec(id));
    assert.ok(Date.now() - t0 >= 900, `waited ${Date.now() - t0} ms`);
    assert.equal(server.jobs.size, 1);
    assert.equal(server.count('POST', /supervisedFineTuningJobs$/), 2);
    server.fail({ method: 'GET', path: /supervisedFineTuningJobs\/ct-job-429$/, status: 429, retryAfter: '1' });
    const t1 = Date.now();
    await api.getSftJob('ct-job-429');
    assert.ok(Date.now() - t1 >= 900);
  });

  it('a create whose connection dropped after Fireworks created the job is looked up by id, not created twice', async () => {
    const { id } = await api.ensureDataset(dataset);
    server.fail({ method: 'POST', path: /supervisedFineTuningJobs$/, afterHandling: true, drop: true });
    const { job, recovered } = await api.createSftJob('ct-job-drop', spec(id));
    assert.equal(recovered, true);
    assert.equal(job.name.split('/').pop(), 'ct-job-drop');
    assert.equal(server.jobs.size, 1, 'exactly one job exists');
    assert.equal(server.count('POST', /supervisedFineTuningJobs$/), 1);
  });

  it('a create that timed out after Fireworks created the job is looked up, not created twice', async () => {
    const { id } = await api.ensureDataset(dataset);
    server.fail({ method: 'POST', path: /supervisedFineTuningJobs$/, afterHandling: true, delayMs: 1000 });
    const { recovered } = await make({ timeoutMs: 300 }).createSftJob('ct-job-slow', spec(id));
    assert.equal(recovered, true);
    assert.equal(server.jobs.size, 1);
  });

  it('a 5xx on create that never reached the job store creates it exactly once', async () => {
    const { id } = await api.ensureDataset(dataset);
    server.fail({ method: 'POST', path: /supervisedFineTuningJobs$/, status: 500 });
    const { recovered } = await api.createSftJob('ct-job-500', spec(id));
    assert.equal(recovered, false);
    assert.equal(server.jobs.size, 1);
    assert.equal(server.count('POST', /supervisedFineTuningJobs$/), 2);
    assert.equal(server.count('GET', /supervisedFineTuningJobs\/ct-job-500$/), 1, 'looked up before sending again');
  });

  it('a repeat that answers 409 (the first create landed after all) returns the existing job', async () => {
    const { id } = await api.ensureDataset(dataset);
    // The create lands but answers 503; the lookup does not see it yet (404, as a lagging read might);
    // the repeat answers 409 ALREADY_EXISTS, which says the first one landed.
    server.fail({ method: 'POST', path: /supervisedFineTuningJobs$/, afterHandling: true, status: 503 });
    server.fail({ method: 'GET', path: /supervisedFineTuningJobs\/ct-job-409$/, status: 404 });
    const { recovered } = await api.createSftJob('ct-job-409', spec(id));
    assert.equal(recovered, true);
    assert.equal(server.jobs.size, 1);
    assert.equal(server.count('POST', /supervisedFineTuningJobs$/), 2);
  });
});
