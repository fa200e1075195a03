import assert from 'node:assert/strict';
import os from 'node:os';
import { JobHistory } from '../../../src/core/jobs/history';
import { newJob } from '../../../src/core/jobs/factory';
import { applyJobEnds, jobIsOverForLease, recordCostSoFar } from '../../../src/core/leases/enforce';
import { LeaseManager } from '../../../src/core/leases/manager';
import { LeaseStore } from '../../../src/core/leases/store';
import type { Lease } from '../../../src/core/leases/schema';
import { dataLayout } from '../../../src/core/paths';
import { tempDir } from '../../support/tmp';

const store = (_m: LeaseManager) => new LeaseStore(tmpDir);
let tmpDir = '';

/** The teardown policy at job end, as every process applies it (no provider calls involved). */
describe('leases: policy at job end (applyJobEnds)', () => {
  let tmp: { dir: string; cleanup: () => void };
  beforeEach(() => { tmp = tempDir('ct-enforce-'); tmpDir = tmp.dir; });
  afterEach(() => tmp.cleanup());

  const setup = async (policy: Lease['policy']) => {
    const store = new LeaseStore(tmp.dir);
    const manager = new LeaseManager({ store, drivers: {} });
    const history = new JobHistory(tmp.dir);
    await store.locked(async (tx) => tx.put({
      id: 'm1', provider: 'lambda', account: 'a', name: 'cloud-training-m1', gpu: 'g', policy, state: 'active', jobIds: [],
      createdAt: new Date().toISOString(), launchStartedAt: new Date().toISOString(), activeAt: new Date().toISOString(), destroyAttempts: 0,
      launchOwner: { pid: process.pid, host: os.hostname() }, instanceId: 'i', host: '127.0.0.1', port: 22,
    }));
    const job = await history.add(newJob(dataLayout(tmp.dir), { provider: 'ssh', name: 'j', hardware: 'lease-m1' }));
    await manager.jobStarted('m1', job.id);
    return { manager, history, job };
  };
  const finish = (history: JobHistory, id: string, finalized: boolean) => history.update(id, (j) => ({ ...j, status: 'succeeded', finishedAt: new Date().toISOString(), metadata: { ...j.metadata, finalized } }));

  it('destroy: drains only once the job ended AND its outputs were collected', async () => {
    const { manager, history, job } = await setup({ kind: 'destroy' });
    assert.deepEqual(await applyJobEnds(manager, history), [], 'job still running');
    await finish(history, job.id, false);
    assert.deepEqual(await applyJobEnds(manager, history), [], 'outputs not downloaded yet');
    assert.equal(jobIsOverForLease((await history.get(job.id))!, Date.now() + 31 * 60_000), true, 'but not forever (30 min)');
    await finish(history, job.id, true);
    const [l] = await applyJobEnds(manager, history);
    assert.equal(l!.state, 'draining');
    assert.equal(l!.drainReason, 'job ended');
  });

  it('idle: the clock starts at the end; a next job sent to lease-<id> (a resubmit) stops it and joins the lease', async () => {
    const { manager, history, job } = await setup({ kind: 'idle', minutes: 30 });
    await finish(history, job.id, true);
    const [l] = await applyJobEnds(manager, history);
    assert.ok(l!.idleSince);
    assert.deepEqual(await applyJobEnds(manager, history), [], 'once per end');
    const next = await history.add(newJob(dataLayout(tmp.dir), { provider: 'ssh', name: 'again', hardware: 'lease-m1' }));
    await history.update(next.id, (j) => ({ ...j, status: 'running' }));
    await applyJobEnds(manager, history);
    const [after] = await manager.list();
    assert.equal(after!.idleSince, undefined, 'in use again');
    assert.deepEqual(after!.jobIds, [job.id, next.id]);
  });

  it('keep: nothing happens at job end; the finished job keeps counting what the kept machine costs so far', async () => {
    const { manager, history, job } = await setup({ kind: 'keep' });
    await finish(history, job.id, true);
    // The monitor's finalisation priced the SSH run at the user's $0/GPU-hour.
    await history.update(job.id, (j) => ({ ...j, cost: { currency: 'USD', actual: 0 } }));
    assert.deepEqual(await applyJobEnds(manager, history), []);
    assert.equal((await manager.list())[0]!.state, 'active');
    await store(manager).locked(async (tx) => tx.put({ ...tx.get('m1')!, pricePerHour: 2 }));
    const started = Date.parse((await manager.list())[0]!.launchStartedAt!);
    await recordCostSoFar(manager, history, started + 3 * 3600_000);
    assert.equal((await history.get(job.id))!.cost?.actual, 6, '3 h at $2/h, counted by the spending limits');
    await recordCostSoFar(manager, history, started + 3 * 3600_000 + 60_000);
    assert.equal((await history.get(job.id))!.cost?.actual, 6, 'not rewritten for less than 5 cents');
  });
});
