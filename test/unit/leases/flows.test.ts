import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LambdaClient, LambdaDriver } from '../../../src/core/cloud/lambda';
import { DigitalOceanClient, DigitalOceanDriver } from '../../../src/core/cloud/digitalocean';
import { RunPodClient, RunPodDriver } from '../../../src/core/cloud/runpod';
import { cloudInitWithHostKey, ensureLeaseKey, generateEd25519, trustHostKey } from '../../../src/core/leases/ssh-keys';
import { LambdaStandIn } from '../../support/cloud-servers/lambda';
import { DigitalOceanStandIn } from '../../support/cloud-servers/digitalocean';
import { RunPodStandIn } from '../../support/cloud-servers/runpod';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { tempDir } from '../../support/tmp';
import { JobHistory } from '../../../src/core/jobs/history';
import { newJob } from '../../../src/core/jobs/factory';
import { dataLayout } from '../../../src/core/paths';
import { SshConnection } from '../../../src/providers/ssh/connection';
import { recordLeaseCostOnJobs } from '../../../src/core/leases/job-cost';
import { API_KEY, makeManager, sshEcho } from './harness';

const noWait = async () => {};

/**
 * Each provider end to end against its stand-in: register our key → launch → active → SSH answers
 * on the real sshd with the key we generated → destroy → the provider confirms it gone → cost.
 */
describe('leases: launch → active → SSH → verified destroy, per provider', function () {
  this.timeout(60_000);
  let sshd: SshdFixture;
  let tmp: { dir: string; cleanup: () => void };

  before(async () => { sshd = await startSshd(); });
  after(async () => { await sshd?.stop(); });
  beforeEach(() => { tmp = tempDir('ct-lease-'); });
  afterEach(() => tmp.cleanup());

  it('Lambda Cloud', async () => {
    const cloud = await new LambdaStandIn({ apiKey: API_KEY, sshd }).start();
    try {
      const driver = new LambdaDriver(new LambdaClient({ apiKey: API_KEY, baseUrl: cloud.url, sleep: noWait }), { sshPort: sshd.port });
      const key = await ensureLeaseKey(path.join(tmp.dir, 'keys'));
      assert.equal((await fs.stat(key.privateKeyPath)).mode & 0o777, 0o600);
      const keyName = await driver.ensureSshKey(key.publicKey, 'cloud-training');
      assert.equal(await driver.ensureSshKey(key.publicKey, 'cloud-training-2'), keyName, 'registered once');
      assert.equal(cloud.sshKeys.length, 1);

      const gpus = await driver.listGpus();
      assert.deepEqual(gpus.find((g) => g.id === 'gpu_1x_a10'), { id: 'gpu_1x_a10', label: '1x A10 (24 GB PCIe)', pricePerHour: 0.75, regions: ['us-east-1', 'us-west-1'] });

      const history = new JobHistory(tmp.dir);
      const job = await history.add(newJob(dataLayout(tmp.dir), { provider: 'ssh', name: 'on a rented A10' }));
      const { manager, clock } = makeManager(tmp.dir, { lambda: driver }, { onEnded: recordLeaseCostOnJobs(history) });
      await manager.create({ id: 'job-a1', provider: 'lambda', account: 'test', gpu: 'gpu_1x_a10', region: 'us-east-1', jobId: job.id });
      const launched = await manager.launch('job-a1', { publicKey: key.publicKey, sshKeyRef: keyName });
      assert.equal(launched.state, 'launching');
      assert.equal(cloud.instances.get(launched.instanceId!)?.name, 'cloud-training-job-a1');
      const active = await manager.waitActive('job-a1', { pollMs: 1000, maxPolls: 10 });
      assert.equal(active.state, 'active');
      assert.equal(active.host, '127.0.0.1');
      assert.equal(active.pricePerHour, 0.75);
      assert.equal(await sshEcho(sshd, active.host!, active.port!, key.privateKeyPath, sshd.knownHostsPath), 'leased-ok');

      clock.advance(2 * 3600_000);
      await manager.jobEnded('job-a1');
      const gone = await manager.settle('job-a1', { pollMs: 1000, maxSteps: 10 });
      assert.equal(gone.state, 'gone');
      assert.equal(cloud.running().length, 0, 'terminated at the provider');
      assert.equal(cloud.server.count('POST', /terminate$/), 1);
      assert.ok(gone.cost && gone.cost.seconds >= 7200 && gone.cost.actual >= 1.5 && gone.cost.actual < 1.6, JSON.stringify(gone.cost));
      const recorded = (await history.get(job.id))!.metadata.lease as { id: string; cost: unknown; state: string };
      assert.deepEqual([recorded.id, recorded.state, recorded.cost], ['job-a1', 'gone', gone.cost], 'the actual cost is on the job');
    } finally {
      await cloud.stop();
    }
  });

  it('DigitalOcean, with the host key injected by cloud-init so the first connection is verified', async () => {
    const cloud = await new DigitalOceanStandIn({ apiKey: API_KEY, sshd }).start();
    try {
      const driver = new DigitalOceanDriver(new DigitalOceanClient({ apiKey: API_KEY, baseUrl: cloud.url, sleep: noWait }), { sshPort: (id) => cloud.sshdOf(id)?.port });
      assert.equal(await driver.whoami(), 'sammy@example.com');
      assert.deepEqual((await driver.listGpus()).map((g) => g.id), ['gpu-h100x1-80gb']);
      const key = await ensureLeaseKey(path.join(tmp.dir, 'keys'));
      const keyId = await driver.ensureSshKey(key.publicKey, 'cloud-training');
      const hostKey = generateEd25519('host');

      const { manager, clock } = makeManager(tmp.dir, { digitalocean: driver });
      await manager.create({ id: 'job-d1', provider: 'digitalocean', account: 'sammy', gpu: 'gpu-h100x1-80gb', region: 'nyc2' });
      const l = await manager.launch('job-d1', { publicKey: key.publicKey, sshKeyRef: keyId, userData: cloudInitWithHostKey(hostKey) });
      const created = cloud.server.requests.find((r) => r.method === 'POST' && r.path === '/v2/droplets')!.body as { tags: string[]; ssh_keys: number[] };
      assert.deepEqual(created.tags, ['cloud-training']);
      assert.deepEqual(created.ssh_keys, [Number(keyId)]);
      const active = await manager.waitActive('job-d1', { pollMs: 1000, maxPolls: 10 });
      assert.notEqual(active.port, sshd.port, 'the droplet is its own sshd, serving the injected host key');

      const knownHosts = path.join(tmp.dir, 'known_hosts');
      await fs.writeFile(knownHosts, '');
      await assert.rejects(sshEcho(sshd, active.host!, active.port!, key.privateKeyPath, knownHosts), 'unknown host refused before we trust the injected key');
      // The SSH provider's own connection (no prompter: an unknown host is refused, not asked about).
      const target = { label: 'leased', host: active.host!, port: active.port!, user: sshd.user, identityFiles: [key.privateKeyPath], agent: false as const, knownHostsFiles: [knownHosts] };
      await assert.rejects(SshConnection.connect(target), (e: Error & { code?: string }) => e.code === 'HOST_KEY_REJECTED');
      await trustHostKey(knownHosts, active.host!, active.port!, hostKey.publicKey);
      assert.equal(await sshEcho(sshd, active.host!, active.port!, key.privateKeyPath, knownHosts), 'leased-ok');
      const conn = await SshConnection.connect(target);
      try {
        assert.equal((await conn.exec('echo verified-first-connection')).stdout.trim(), 'verified-first-connection');
      } finally {
        conn.dispose();
      }

      clock.advance(30 * 60_000);
      await manager.requestDestroy('job-d1');
      const gone = await manager.settle('job-d1', { pollMs: 1000, maxSteps: 10 });
      assert.equal(gone.state, 'gone');
      assert.equal(cloud.droplets.size, 0, 'the provider answers 404 for it now');
      assert.equal(gone.instanceId, l.instanceId);
      assert.equal(gone.cost?.pricePerHour, 3.39);
    } finally {
      await cloud.stop();
    }
  });

  it('RunPod (public key as PUBLIC_KEY, SSH through portMappings)', async () => {
    const cloud = await new RunPodStandIn({ apiKey: API_KEY, sshd }).start();
    try {
      const driver = new RunPodDriver(new RunPodClient({ apiKey: API_KEY, baseUrl: cloud.url, graphqlUrl: cloud.graphqlUrl, sleep: noWait }));
      assert.equal((await driver.listGpus()).find((g) => g.id === 'NVIDIA RTX A6000')?.pricePerHour, 0.49);
      const key = await ensureLeaseKey(path.join(tmp.dir, 'keys'));
      const { manager } = makeManager(tmp.dir, { runpod: driver });
      await manager.create({ id: 'job-r1', provider: 'runpod', account: 'rp', gpu: 'NVIDIA RTX A6000' });
      await manager.launch('job-r1', { publicKey: key.publicKey });
      const body = cloud.server.requests.find((r) => r.method === 'POST' && r.path === '/v1/pods')!.body as { ports: string[]; env: Record<string, string> };
      assert.deepEqual(body.ports, ['22/tcp']);
      assert.equal(body.env.PUBLIC_KEY, key.publicKey);
      const active = await manager.waitActive('job-r1', { pollMs: 1000, maxPolls: 10 });
      assert.equal(active.port, sshd.port);
      assert.equal(await sshEcho(sshd, active.host!, active.port!, key.privateKeyPath, sshd.knownHostsPath), 'leased-ok');
      await manager.jobEnded('job-r1');
      const gone = await manager.settle('job-r1', { pollMs: 1000, maxSteps: 10 });
      assert.equal(gone.state, 'gone');
      assert.equal(cloud.running().length, 0);
      assert.equal(cloud.server.count('DELETE', /^\/v1\/pods\//), 1, 'terminated (DELETE), not merely stopped');
    } finally {
      await cloud.stop();
    }
  });
});
