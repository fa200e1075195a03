import assert from 'node:assert/strict';
import path from 'node:path';
import { LambdaClient, LambdaDriver } from '../../../src/core/cloud/lambda';
import { DigitalOceanClient, DigitalOceanDriver } from '../../../src/core/cloud/digitalocean';
import { JobHistory } from '../../../src/core/jobs/history';
import { newJob } from '../../../src/core/jobs/factory';
import { launchLeasedJob, type LeasedJobDeps } from '../../../src/core/leases/launch-job';
import { LeaseManager } from '../../../src/core/leases/manager';
import { LeaseStore } from '../../../src/core/leases/store';
import { SpendingLimitError } from '../../../src/core/cost/limits';
import { dataLayout } from '../../../src/core/paths';
import { SshConnection } from '../../../src/providers/ssh/connection';
import { resolveSshTarget } from '../../../src/providers/ssh/hosts';
import { leaseKeyDir, leaseKnownHostsFile, withLeaseHosts } from '../../../src/providers/ssh/lease-hosts';
import { DigitalOceanStandIn } from '../../support/cloud-servers/digitalocean';
import { LambdaStandIn } from '../../support/cloud-servers/lambda';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { tempDir } from '../../support/tmp';
import { API_KEY } from './harness';

const noWait = async () => {};
const training = { low: 600, expected: 3600, high: 7200 };

/** The shared core flow (CLI and editor): cancel while booting, DigitalOcean's verified host key, limits. */
describe('launchLeasedJob (core flow shared by the CLI and the editor)', function () {
  this.timeout(60_000);
  let sshd: SshdFixture;
  let tmp: { dir: string; cleanup: () => void };
  before(async () => { sshd = await startSshd(); });
  after(async () => { await sshd?.stop(); });
  beforeEach(() => { tmp = tempDir('ct-launch-job-'); });
  afterEach(() => tmp.cleanup());

  const deps = (drivers: LeasedJobDeps['drivers'], over: Partial<LeasedJobDeps> = {}): LeasedJobDeps => {
    const history = new JobHistory(tmp.dir);
    const manager = new LeaseManager({ store: new LeaseStore(tmp.dir), drivers, sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))) });
    return {
      manager, drivers, history, keyDir: leaseKeyDir(tmp.dir), knownHostsFile: leaseKnownHostsFile(tmp.dir), limits: { daily: undefined, monthly: undefined, perProvider: {} },
      sshUser: sshd.user, pollMs: 20, settlePollMs: 20,
      submit: async (hardware) => history.add(newJob(dataLayout(tmp.dir), { provider: 'ssh', name: 'j', hardware })),
      ...over,
    };
  };

  it('cancel while the machine boots (Ctrl-C / the progress Cancel): policy destroy → verified teardown, no job', async () => {
    const cloud = await new LambdaStandIn({ apiKey: API_KEY, sshd, bootPolls: 1000 }).start();
    try {
      const driver = new LambdaDriver(new LambdaClient({ apiKey: API_KEY, baseUrl: cloud.url, sleep: noWait }), { sshPort: sshd.port });
      const ac = new AbortController();
      const lines: string[] = [];
      let submitted = false;
      const d = deps({ lambda: driver }, {
        signal: ac.signal,
        report: (l) => { lines.push(l); if (/lambda [0-9a-f]+: booting/.test(l)) ac.abort(new DOMException('Interrupted', 'AbortError')); },
        submit: async () => { submitted = true; throw new Error('not reached'); },
      });
      await assert.rejects(launchLeasedJob({ provider: 'lambda', gpu: 'gpu_1x_a10', policy: { kind: 'destroy' }, training }, d), /Interrupted|abort/i);
      assert.equal(submitted, false);
      const [lease] = await d.manager.list();
      assert.equal(lease!.state, 'gone', lines.join('\n'));
      assert.equal(cloud.running().length, 0);
      assert.ok(lines.some((l) => /Destroying the machine/.test(l)));
      assert.ok(lines.some((l) => /Machine gone/.test(l)), lines.join('\n'));
    } finally {
      await cloud.stop();
    }
  });

  it('the job cannot start (consent refused) under --keep: the machine is kept, and said so', async () => {
    const cloud = await new LambdaStandIn({ apiKey: API_KEY, sshd }).start();
    try {
      const driver = new LambdaDriver(new LambdaClient({ apiKey: API_KEY, baseUrl: cloud.url, sleep: noWait }), { sshPort: sshd.port });
      const lines: string[] = [];
      const d = deps({ lambda: driver }, { report: (l) => lines.push(l), submit: async () => { throw new Error('consent refused'); } });
      await assert.rejects(launchLeasedJob({ provider: 'lambda', gpu: 'gpu_1x_a10', policy: { kind: 'keep' }, training }, d), /consent refused/);
      const [lease] = await d.manager.list();
      assert.equal(lease!.state, 'active');
      assert.ok(lines.some((l) => /kept \(--keep\)/.test(l)));
      assert.equal(cloud.running().length, 1);
    } finally {
      await cloud.stop();
    }
  });

  it('DigitalOcean: the injected host key is trusted, so the SSH provider connects verified with no prompt', async () => {
    const cloud = await new DigitalOceanStandIn({ apiKey: API_KEY, sshd }).start();
    try {
      const driver = new DigitalOceanDriver(new DigitalOceanClient({ apiKey: API_KEY, baseUrl: cloud.url, sleep: noWait }), { sshPort: (id) => cloud.sshdOf(id)?.port });
      let echoed = '';
      const d = deps({ digitalocean: driver });
      const inner = d.submit;
      d.submit = async (hardware, lease) => {
        // Exactly what the SSH provider does: resolve the host through the lease hosts, connect (no prompter).
        const target = await resolveSshTarget(hardware, await withLeaseHosts({ configFile: path.join(tmp.dir, 'none') }, tmp.dir));
        assert.equal(target.port, lease.port);
        assert.deepEqual(target.knownHostsFiles, [leaseKnownHostsFile(tmp.dir)]);
        const conn = await SshConnection.connect({ ...target, agent: false });
        try { echoed = (await conn.exec('echo verified')).stdout.trim(); } finally { conn.dispose(); }
        return inner(hardware, lease);
      };
      const out = await launchLeasedJob({ provider: 'digitalocean', gpu: 'gpu-h100x1-80gb', region: 'nyc2', policy: { kind: 'destroy' }, training }, d);
      assert.equal(echoed, 'verified');
      assert.equal(out.estimate.priceSource, 'listing');
      assert.equal(out.lease.jobIds[0], out.job.id);
      assert.equal(out.job.cost?.pricePerHour, 3.39);
      assert.deepEqual((out.job.metadata.lease as { id: string }).id, out.lease.id);
      await d.manager.requestDestroy(out.lease.id);
      assert.equal((await d.manager.settle(out.lease.id, { pollMs: 20, maxSteps: 20 })).state, 'gone');
    } finally {
      await cloud.stop();
    }
  });

  it('the listing fails: the dated table prices it and says so; a spending limit blocks before anything is rented', async () => {
    const cloud = await new LambdaStandIn({ apiKey: API_KEY, sshd }).start();
    try {
      const driver = new LambdaDriver(new LambdaClient({ apiKey: API_KEY, baseUrl: cloud.url, sleep: noWait }), { sshPort: sshd.port });
      cloud.server.faults.push({ method: 'GET', path: /instance-types$/, status: 500, times: 10 });
      let shown = '';
      const d = deps({ lambda: driver }, { limits: { daily: 0.5, monthly: undefined, perProvider: {} }, confirmEstimate: async (e) => { shown = e.priceNote; return true; } });
      await assert.rejects(launchLeasedJob({ provider: 'lambda', gpu: 'gpu_1x_a10', policy: { kind: 'destroy' }, training }, d), (e: Error) => e instanceof SpendingLimitError && /daily limit of \$0\.50/.test(e.message));
      assert.equal(shown, '', 'blocked before the confirmation');
      assert.equal((await d.manager.list()).length, 0, 'no lease: nothing rented');
      assert.equal(cloud.server.count('POST', /launch$/), 0);
      const d2 = deps({ lambda: driver }, { confirmEstimate: async (e) => { shown = e.priceNote; return false; } });
      cloud.server.faults.push({ method: 'GET', path: /instance-types$/, status: 500, times: 10 });
      await assert.rejects(launchLeasedJob({ provider: 'lambda', gpu: 'gpu_1x_a10', policy: { kind: 'destroy' }, training }, d2), /not confirmed/);
      assert.match(shown, /the listing failed .*dated price table of 2026-11-23/);
      assert.equal(cloud.server.count('POST', /launch$/), 0);
    } finally {
      await cloud.stop();
    }
  });
});
