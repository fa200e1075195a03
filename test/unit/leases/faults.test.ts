import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CloudApiError } from '../../../src/core/cloud/http';
import { LambdaClient, LambdaDriver } from '../../../src/core/cloud/lambda';
import { DigitalOceanClient, DigitalOceanDriver } from '../../../src/core/cloud/digitalocean';
import { RunPodClient, RunPodDriver } from '../../../src/core/cloud/runpod';
import { LeaseError } from '../../../src/core/leases/manager';
import { ensureLeaseKey } from '../../../src/core/leases/ssh-keys';
import { LambdaStandIn } from '../../support/cloud-servers/lambda';
import { DigitalOceanStandIn } from '../../support/cloud-servers/digitalocean';
import { RunPodStandIn } from '../../support/cloud-servers/runpod';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { tempDir } from '../../support/tmp';
import { API_KEY, T0, makeManager } from './harness';

const run = promisify(execFile);
const lambdaError = (code: string, message: string) => ({ error: { code, message } });

describe('leases: faults', function () {
  this.timeout(60_000);
  let sshd: SshdFixture;
  let tmp: { dir: string; cleanup: () => void };
  let lambda: LambdaStandIn;
  let sleeps: number[];
  let driver: LambdaDriver;
  let keyName: string;
  let publicKey: string;

  before(async () => { sshd = await startSshd(); });
  after(async () => { await sshd?.stop(); });
  beforeEach(async () => {
    tmp = tempDir('ct-lease-f-');
    lambda = await new LambdaStandIn({ apiKey: API_KEY, sshd }).start();
    sleeps = [];
    driver = new LambdaDriver(new LambdaClient({ apiKey: API_KEY, baseUrl: lambda.url, sleep: async (ms) => { sleeps.push(ms); } }), { sshPort: sshd.port });
    publicKey = (await ensureLeaseKey(path.join(tmp.dir, 'keys'))).publicKey;
    keyName = await driver.ensureSshKey(publicKey, 'cloud-training');
  });
  afterEach(async () => { await lambda.stop(); tmp.cleanup(); });

  it('crash between launch and answer: the instance is found by its name and adopted; never launched twice', async () => {
    const h = makeManager(tmp.dir, { lambda: driver });
    lambda.server.faults.push({ method: 'POST', path: /instance-operations\/launch$/, drop: 'after' });
    await h.manager.create({ id: 'job-c1', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1' });
    const l = await h.manager.launch('job-c1', { publicKey, sshKeyRef: keyName });
    assert.equal(lambda.created, 1);
    assert.equal(lambda.server.requests.find((r) => r.path.endsWith('/launch'))!.status, 0, 'the answer really was lost');
    assert.equal(lambda.server.count('POST', /launch$/), 1, 'the launch was not re-sent');
    assert.equal(l.instanceId, [...lambda.instances.keys()][0]);
    await assert.rejects(h.manager.launch('job-c1', { publicKey, sshKeyRef: keyName }), /already launched/);
    assert.equal(lambda.server.count('POST', /launch$/), 1);
    assert.equal((await h.manager.waitActive('job-c1', { pollMs: 1000, maxPolls: 10 })).state, 'active');
    assert.deepEqual((await h.manager.reconcile()).orphans, [], 'adopted, so not an orphan');
  });

  it('a process that died mid-launch: another process finds the machine by name and destroys it (orphanPolicy destroy)', async () => {
    // The dead process wrote its claim, sent the launch (the machine exists) and died before the answer.
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    const first = makeManager(tmp.dir, { lambda: driver });
    await first.manager.create({ id: 'job-c2', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1' });
    await first.store.locked(async (tx) => {
      const l = tx.get('job-c2')!;
      await tx.put({ ...l, state: 'launching', launchStartedAt: new Date(T0).toISOString(), launchOwner: { pid: dead, host: os.hostname() } });
    });
    await new LambdaClient({ apiKey: API_KEY, baseUrl: lambda.url }).launch({ region_name: 'us-east-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: [keyName], name: 'cloud-training-job-c2' });
    // An unrelated instance we did not name is none of our business.
    await new LambdaClient({ apiKey: API_KEY, baseUrl: lambda.url }).launch({ region_name: 'us-east-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: [keyName], name: 'someone-else' });

    const second = makeManager(tmp.dir, { lambda: driver }, { orphanPolicy: 'destroy' });
    const r = await second.manager.reconcile();
    assert.equal(r.changed[0]?.state, 'draining');
    assert.equal(r.changed[0]?.drainReason, 'orphaned by a crash during launch');
    const gone = await second.manager.settle('job-c2', { pollMs: 1000, maxSteps: 10 });
    assert.equal(gone.state, 'gone');
    assert.deepEqual(lambda.running().map((i) => i.name), ['someone-else']);
    assert.equal(lambda.server.count('POST', /launch$/), 2, 'reconcile never launches');
  });

  it('a launch still in flight is left alone by this process\'s reconcile; a destroy requested meanwhile still destroys the machine', async () => {
    const h = makeManager(tmp.dir, { lambda: driver });
    lambda.server.faults.push({ method: 'POST', path: /launch$/, delayMs: 400 });
    await h.manager.create({ id: 'job-f', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1' });
    const launching = h.manager.launch('job-f', { publicKey, sshKeyRef: keyName });
    await new Promise((r) => setTimeout(r, 100));
    await h.manager.reconcile();
    assert.equal((await h.store.get('job-f'))!.state, 'launching', 'not written off while the call is in flight');
    await h.manager.requestDestroy('job-f', 'user cancelled during launch');
    await h.manager.reconcile();
    const l = await launching;
    assert.equal(l.state, 'draining');
    assert.ok(l.instanceId);
    assert.equal((await h.manager.settle('job-f', { pollMs: 1000, maxSteps: 10 })).state, 'gone');
    assert.equal(lambda.running().length, 0);
  });

  it('slow boot: waitActive gives up (bounded) but the machine stays leased and can still be destroyed', async () => {
    const slow = await new LambdaStandIn({ apiKey: API_KEY, sshd, bootPolls: 1000 }).start();
    try {
      const d = new LambdaDriver(new LambdaClient({ apiKey: API_KEY, baseUrl: slow.url, sleep: async () => {} }), { sshPort: sshd.port });
      const k = await d.ensureSshKey(publicKey, 'k');
      const h = makeManager(tmp.dir, { lambda: d });
      await h.manager.create({ id: 'job-s', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1' });
      await h.manager.launch('job-s', { publicKey, sshKeyRef: k });
      await assert.rejects(h.manager.waitActive('job-s', { pollMs: 1000, maxPolls: 3 }), /not ready after 3 checks; it is still leased/);
      assert.equal((await h.store.get('job-s'))!.state, 'launching');
      await h.manager.requestDestroy('job-s');
      assert.equal((await h.manager.settle('job-s', { pollMs: 1000, maxSteps: 10 })).state, 'gone');
      assert.equal(slow.running().length, 0);
    } finally {
      await slow.stop();
    }
  });

  it('the documented launch rate limit (1 per 12 s): refused with Retry-After, nothing created, the lease may launch later', async () => {
    const limited = await new LambdaStandIn({ apiKey: API_KEY, sshd, launchRateLimit: true }).start();
    try {
      const d = new LambdaDriver(new LambdaClient({ apiKey: API_KEY, baseUrl: limited.url, sleep: async () => {} }), { sshPort: sshd.port });
      const k = await d.ensureSshKey(publicKey, 'k');
      const h = makeManager(tmp.dir, { lambda: d });
      await h.manager.create({ id: 'job-r1', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1' });
      await h.manager.create({ id: 'job-r2', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1' });
      await h.manager.launch('job-r1', { publicKey, sshKeyRef: k });
      await assert.rejects(h.manager.launch('job-r2', { publicKey, sshKeyRef: k }), /rate limited on POST \/instance-operations\/launch; retry after 1[12] s/);
      assert.equal(limited.created, 1);
      const r2 = (await h.store.get('job-r2'))!;
      assert.equal(r2.state, 'intent');
      assert.equal(limited.server.count('POST', /launch$/), 2, 'the refused launch was not re-sent');
    } finally {
      await limited.stop();
    }
  });

  it('an instance named by us that no lease knows is reported as an orphan with its price', async () => {
    await new LambdaClient({ apiKey: API_KEY, baseUrl: lambda.url }).launch({ region_name: 'us-east-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: [keyName], name: 'cloud-training-lost' });
    const h = makeManager(tmp.dir, { lambda: driver });
    const { orphans } = await h.manager.reconcile();
    assert.equal(orphans.length, 1);
    assert.equal(orphans[0]!.name, 'cloud-training-lost');
    assert.equal(orphans[0]!.pricePerHour, 0.75);
  });

  it('destroy failing twice then succeeding: retried with backoff, alerted each time, verified gone', async () => {
    const h = makeManager(tmp.dir, { lambda: driver });
    await h.manager.create({ id: 'job-d', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1' });
    await h.manager.launch('job-d', { publicKey, sshKeyRef: keyName });
    await h.manager.waitActive('job-d', { pollMs: 1000, maxPolls: 10 });
    lambda.server.faults.push({ method: 'POST', path: /terminate$/, status: 500, body: lambdaError('global/internal-error', 'Internal error'), times: 2 });
    await h.manager.jobEnded('job-d');

    let r = await h.manager.reconcile();
    assert.equal(r.changed[0]!.state, 'draining');
    assert.equal(r.changed[0]!.destroyAttempts, 1);
    assert.match(h.alerts[0]!, /STILL BILLING/);
    r = await h.manager.reconcile();
    assert.equal(r.changed.length, 0, 'not before the backoff');
    assert.equal(lambda.server.count('POST', /terminate$/), 1);

    const gone = await h.manager.settle('job-d', { pollMs: 30_000, maxSteps: 20 });
    assert.equal(gone.state, 'gone');
    assert.equal(lambda.server.count('POST', /terminate$/), 3);
    assert.equal(h.alerts.filter((a) => /STILL BILLING/.test(a)).length, 2);
    assert.equal(lambda.running().length, 0);
    assert.equal(gone.destroyAttempts, 2);
  });

  it('capacity error on launch: clear message, nothing created or billed, no live lease (Lambda, DigitalOcean, RunPod)', async () => {
    const h = makeManager(tmp.dir, { lambda: driver });
    await h.manager.create({ id: 'job-cap', provider: 'lambda', account: 't', gpu: 'gpu_1x_h100_pcie', region: 'us-east-1' });
    await assert.rejects(h.manager.launch('job-cap', { publicKey, sshKeyRef: keyName }), (e: LeaseError) => {
      assert.match(e.message, /no capacity for gpu_1x_h100_pcie in us-east-1.*nothing was launched or billed/);
      assert.equal(e.lease?.state, 'failed');
      assert.deepEqual(e.lease?.cost, { actual: 0, seconds: 0 });
      return true;
    });
    assert.equal(lambda.created, 0);
    assert.equal((await h.manager.reconcile()).changed.length, 0);

    const doCloud = await new DigitalOceanStandIn({ apiKey: API_KEY, sshd }).start();
    const rpCloud = await new RunPodStandIn({ apiKey: API_KEY, sshd }).start();
    try {
      const doDriver = new DigitalOceanDriver(new DigitalOceanClient({ apiKey: API_KEY, baseUrl: doCloud.url }));
      const rpDriver = new RunPodDriver(new RunPodClient({ apiKey: API_KEY, baseUrl: rpCloud.url, graphqlUrl: rpCloud.graphqlUrl }));
      const h2 = makeManager(path.join(tmp.dir, 'b'), { digitalocean: doDriver, runpod: rpDriver });
      await h2.manager.create({ id: 'do-cap', provider: 'digitalocean', account: 't', gpu: 'gpu-h100x1-80gb', region: 'ams3' });
      await assert.rejects(h2.manager.launch('do-cap', { publicKey }), /not available in ams3.*nothing was created or billed/);
      await h2.manager.create({ id: 'rp-cap', provider: 'runpod', account: 't', gpu: 'NVIDIA H100 80GB HBM3' });
      await assert.rejects(h2.manager.launch('rp-cap', { publicKey }), /no NVIDIA H100 80GB HBM3 available right now; nothing was created or billed/);
      assert.equal(doCloud.created + rpCloud.created, 0);
      assert.deepEqual((await h2.manager.list()).map((l) => l.state), ['failed', 'failed']);
    } finally {
      await doCloud.stop();
      await rpCloud.stop();
    }
  });

  it('idle keep: the machine survives the idle window, then is destroyed when it expires', async () => {
    const h = makeManager(tmp.dir, { lambda: driver });
    await h.manager.create({ id: 'job-i', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1', policy: { kind: 'idle', minutes: 30 } });
    await h.manager.launch('job-i', { publicKey, sshKeyRef: keyName });
    await h.manager.waitActive('job-i', { pollMs: 1000, maxPolls: 10 });
    await h.manager.jobEnded('job-i');
    h.clock.advance(29 * 60_000);
    await h.manager.reconcile();
    assert.equal((await h.store.get('job-i'))!.state, 'active');
    // A job reusing the machine restarts the idle window.
    await h.manager.jobStarted('job-i', 'job-i2');
    h.clock.advance(60 * 60_000);
    await h.manager.reconcile();
    assert.equal((await h.store.get('job-i'))!.state, 'active');
    await h.manager.jobEnded('job-i');
    h.clock.advance(31 * 60_000);
    const r = await h.manager.reconcile();
    assert.equal(r.changed[0]!.state, 'draining');
    assert.equal(r.changed[0]!.drainReason, 'idle for 30 min');
    assert.equal((await h.manager.settle('job-i', { pollMs: 1000, maxSteps: 10 })).state, 'gone');
    assert.equal(lambda.running().length, 0);
  });

  it('concurrent reconciles (two managers, same data folder) destroy once', async () => {
    const a = makeManager(tmp.dir, { lambda: driver });
    const b = makeManager(tmp.dir, { lambda: driver });
    await a.manager.create({ id: 'job-cc', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1' });
    await a.manager.launch('job-cc', { publicKey, sshKeyRef: keyName });
    await a.manager.waitActive('job-cc', { pollMs: 1000, maxPolls: 10 });
    await a.manager.requestDestroy('job-cc');
    lambda.server.faults.push({ method: 'POST', path: /terminate$/, delayMs: 200 });
    await Promise.all([a.manager.reconcile(), b.manager.reconcile(), a.manager.reconcile(), b.manager.reconcile()]);
    assert.equal(lambda.server.count('POST', /terminate$/), 1);
    assert.equal((await a.manager.settle('job-cc', { pollMs: 1000, maxSteps: 10 })).state, 'gone');
  });

  it('the 24 h ceiling fires from a second process (no window), even under the keep policy', async () => {
    const h = makeManager(tmp.dir, { lambda: driver });
    await h.manager.create({ id: 'job-k', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1', policy: { kind: 'keep' } });
    await h.manager.launch('job-k', { publicKey, sshKeyRef: keyName });
    await h.manager.waitActive('job-k', { pollMs: 1000, maxPolls: 10 });
    const env = { ...process.env, LEASE_DIR: tmp.dir, LAMBDA_URL: lambda.url, LAMBDA_API_KEY: API_KEY, LEASE_ID: 'job-k' };
    const child = path.join(__dirname, 'reconcile-child.ts');
    // 23 h: nothing happens.
    let out = await run(process.execPath, ['--import', 'tsx', child], { env: { ...env, NOW_MS: String(T0 + 23 * 3600_000) }, timeout: 30_000 });
    assert.equal(JSON.parse(out.stdout).state, 'active');
    // 24 h + 1 s: the child, alone, drains, destroys and verifies.
    out = await run(process.execPath, ['--import', 'tsx', child], { env: { ...env, NOW_MS: String(T0 + 24 * 3600_000 + 1000) }, timeout: 30_000 });
    const l = JSON.parse(out.stdout);
    assert.equal(l.state, 'gone');
    assert.match(l.drainReason, /ceiling \(24 h\)/);
    assert.equal(lambda.running().length, 0);
    assert.ok(l.cost.seconds >= 24 * 3600, JSON.stringify(l.cost));
  });
});

describe('cloud clients: errors, retries, secrets', function () {
  this.timeout(30_000);
  let sshd: SshdFixture;
  let lambda: LambdaStandIn;
  let sleeps: number[];
  let client: LambdaClient;
  before(async () => { sshd = await startSshd(); });
  after(async () => { await sshd?.stop(); });
  beforeEach(async () => {
    lambda = await new LambdaStandIn({ apiKey: API_KEY, sshd }).start();
    sleeps = [];
    client = new LambdaClient({ apiKey: API_KEY, baseUrl: lambda.url, sleep: async (ms) => { sleeps.push(ms); } });
  });
  afterEach(() => lambda.stop());

  it('401: one clear message that never contains the key', async () => {
    const bad = new LambdaClient({ apiKey: 'sk-wrong-SECRETVALUE', baseUrl: lambda.url, sleep: async () => {} });
    await assert.rejects(bad.listInstances(), (e: CloudApiError) => {
      assert.equal(e.kind, 'auth');
      assert.match(e.message, /Lambda Cloud rejected the API key \(HTTP 401\)/);
      assert.ok(!e.message.includes('SECRETVALUE') && !String(e.stack).includes('SECRETVALUE'));
      return true;
    });
    assert.equal(lambda.server.count('GET', /instances$/), 1, 'auth errors are not retried');
  });

  it('reads retry 429 (honouring Retry-After), 5xx and dropped connections, bounded', async () => {
    lambda.server.faults.push(
      { method: 'GET', path: /instances$/, status: 429, headers: { 'retry-after': '3' }, body: lambdaError('global/rate-limit-exceeded', 'Rate limit exceeded') },
      { method: 'GET', path: /instances$/, status: 503, body: lambdaError('provider/internal-unavailable', 'Provider unavailable') },
      { method: 'GET', path: /instances$/, drop: 'before' },
    );
    assert.deepEqual(await client.listInstances(), []);
    assert.equal(sleeps[0], 3000);
    assert.equal(lambda.server.count('GET', /instances$/), 4);
    lambda.server.faults.push({ method: 'GET', path: /instances$/, status: 500, times: 10 });
    await assert.rejects(client.listInstances(), (e: CloudApiError) => e.kind === 'server');
    assert.equal(lambda.server.count('GET', /instances$/), 8, 'four attempts, then the error');
  });

  it('writes are never retried: a 429 or 5xx on launch is reported, not re-sent', async () => {
    lambda.server.faults.push({ method: 'POST', path: /launch$/, status: 429, headers: { 'retry-after': '1' }, body: lambdaError('global/rate-limit-exceeded', 'Rate limit exceeded') });
    await assert.rejects(client.launch({ region_name: 'us-east-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: ['k'], name: 'n' }), (e: CloudApiError) => e.kind === 'rate-limited' && e.retryAfterMs === 1000);
    lambda.server.faults.push({ method: 'POST', path: /launch$/, status: 502 });
    await assert.rejects(client.launch({ region_name: 'us-east-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: ['k'], name: 'n' }), (e: CloudApiError) => e.kind === 'server' && !e.definitelyRejected);
    assert.equal(lambda.server.count('POST', /launch$/), 2);
  });

  it('a server echoing the key back does not put it in our error', async () => {
    lambda.server.faults.push({ method: 'POST', path: /launch$/, status: 400, body: lambdaError('global/invalid-parameters', `bad request from key ${API_KEY}`) });
    await assert.rejects(client.launch({ region_name: 'us-east-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: ['k'], name: 'n' }), (e: CloudApiError) => {
      assert.ok(!e.message.includes(API_KEY), e.message);
      assert.match(e.message, /bad request from key \*\*\*/);
      return true;
    });
  });

  it('DigitalOcean: a read over the rate limit waits for Retry-After and succeeds; a create over it is refused, not re-sent', async () => {
    const doCloud = await new DigitalOceanStandIn({ apiKey: API_KEY, sshd, rateLimit: { max: 2, windowMs: 1000 } }).start();
    try {
      const slept: number[] = [];
      const c = new DigitalOceanClient({ apiKey: API_KEY, baseUrl: doCloud.url, sleep: (ms) => { slept.push(ms); return new Promise((r) => setTimeout(r, ms)); } });
      for (let i = 0; i < 3; i++) assert.equal((await c.account()).email, 'sammy@example.com');
      assert.equal(doCloud.server.requests.filter((r) => r.status === 429).length, 1);
      assert.deepEqual(slept, [1000]);
      await c.account();
      await assert.rejects(c.createDroplet({ name: 'cloud-training-x', region: 'nyc2', size: 'gpu-h100x1-80gb', image: 'i', ssh_keys: [], tags: [] }), (e: CloudApiError) => e.kind === 'rate-limited');
      assert.equal(doCloud.server.count('POST', /droplets$/), 1);
      assert.equal(doCloud.created, 0);
    } finally {
      await doCloud.stop();
    }
  });

  it('404 on get means gone; an unexpected response shape is an error, not a guess', async () => {
    assert.equal(await client.getInstance('nope'), undefined);
    lambda.server.faults.push({ method: 'GET', path: /instances$/, status: 200, body: { data: [{ id: 'x', status: 'exploded' }] } });
    await assert.rejects(client.listInstances(), (e: CloudApiError) => e.kind === 'invalid-response' && /status/.test(e.message));
  });
});
