import assert from 'node:assert/strict';
import type { Lease } from '../../../src/core/leases/schema';
import { burnRate, costSoFar, machineRows, statusBarText, type Orphan } from '../../../src/vscode/machines/model';

const T = Date.parse('2026-12-03T12:00:00Z');
const lease = (over: Partial<Lease>): Lease => ({
  id: 'm1', provider: 'lambda', account: 'lambda', name: 'cloud-training-m1', gpu: 'gpu_1x_a10', policy: { kind: 'destroy' },
  state: 'active', jobIds: ['j1'], createdAt: new Date(T - 2 * 3600_000).toISOString(), launchStartedAt: new Date(T - 2 * 3600_000).toISOString(),
  destroyAttempts: 0, pricePerHour: 0.75, instanceId: 'i-1', host: '1.2.3.4', port: 22, ...over,
});
const orphan: Orphan = { provider: 'runpod', id: 'pod9', name: 'cloud-training-lost', state: 'active', providerState: 'RUNNING', pricePerHour: 0.49 };

describe('Machines view model (no vscode)', () => {
  it('a live lease row: GPU, state, age, hourly price, cost so far, policy; context words for the actions', () => {
    const [row] = machineRows([lease({})], [], [], T);
    assert.equal(row!.label, 'gpu_1x_a10 · lambda');
    assert.equal(row!.description, 'active · 2h00m · $0.75/h · $1.50 so far · destroy when the job ends');
    assert.deepEqual(row!.contextValue.split(' '), ['machine', 'lease', 'live', 'canKeep', 'canSsh']);
    assert.equal(row!.warning, false);
    assert.match(row!.tooltip, /Lease m1 \(cloud-training-m1\)\nlambda i-1\n/);
  });

  it('idle and keep policies, a failing destroy (warning), ended leases (actual cost) and hidden old ones', () => {
    const idle = lease({ id: 'm2', policy: { kind: 'idle', minutes: 30 }, idleSince: new Date(T - 5 * 60_000).toISOString() });
    const failing = lease({ id: 'm3', state: 'draining', destroyAttempts: 2, lastError: 'Destroying … STILL BILLING', host: undefined });
    const ended = lease({ id: 'm4', state: 'gone', goneAt: new Date(T - 10 * 60_000).toISOString(), cost: { actual: 1.25, seconds: 6000, pricePerHour: 0.75 } });
    const old = lease({ id: 'm5', state: 'gone', goneAt: new Date(T - 5 * 3600_000).toISOString(), cost: { actual: 9, seconds: 1, pricePerHour: 1 } });
    const rows = machineRows([idle, failing, ended, old], [orphan], ['Could not list digitalocean instances'], T);
    assert.deepEqual(rows.map((r) => r.id), ['lease:m2', 'lease:m3', 'orphan:runpod:pod9', 'lease:m4', 'error:0']);
    assert.match(rows[0]!.description, /^idle since 11:55Z · .* · keep 30 min idle$/);
    assert.equal(rows[1]!.warning, true);
    assert.equal(rows[1]!.contextValue, 'machine lease live', 'no Keep/SSH while draining, Destroy stays');
    assert.match(rows[3]!.description, /^gone · 1h50m · \$0\.75\/h · \$1\.25 total/);
    assert.equal(rows[3]!.contextValue, 'machine lease');
    assert.equal(rows[4]!.warning, true);
  });

  it('an orphan: warning, its hourly price, Destroy only', () => {
    const [row] = machineRows([], [orphan], [], T);
    assert.equal(row!.label, 'Orphan: cloud-training-lost');
    assert.equal(row!.description, 'runpod · RUNNING · $0.49/h · in no lease');
    assert.equal(row!.contextValue, 'machine orphan');
    assert.equal(row!.warning, true);
  });

  it('burn rate counts every machine billing (launched, not confirmed gone) and orphans; none → no status bar item', () => {
    const b = burnRate([lease({}), lease({ id: 'b', state: 'destroying', pricePerHour: 2 }), lease({ id: 'c', state: 'intent' }), lease({ id: 'd', state: 'gone' }), lease({ id: 'e', state: 'launching', pricePerHour: undefined })], [orphan]);
    assert.deepEqual(b, { perHour: 0.75 + 2 + 0.49, machines: 4, unpriced: 1 });
    assert.equal(statusBarText(b), '$(server-process) 4 machines · $3.24/h+');
    assert.equal(statusBarText(burnRate([lease({ state: 'gone' })])), undefined);
    assert.equal(costSoFar(lease({ pricePerHour: undefined }), T), undefined);
  });
});
