import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { driversFromEnv } from '../../core/cloud/accounts';
import { formatDuration } from '../../core/format';
import { LeaseManager, type ReconcileReport } from '../../core/leases/manager';
import { isLive, type Lease } from '../../core/leases/schema';
import { LeaseStore } from '../../core/leases/store';
import { recordLeaseCostOnJobs } from '../../core/leases/job-cost';
import { enforceLeases } from '../../core/leases/enforce';
import { JobHistory } from '../../core/jobs/history';
import { dataLayout } from '../../core/paths';
import { UsageError } from '../io';
import { scoped, type ScopedIO } from '../scope';

const USAGE = 'usage: cloudtrain machines [--json] [--all] | cloudtrain machines destroy <lease-or-instance-id>';

/**
 * `cloudtrain machines` — rented GPU machines (leases) and instances named by us that no lease
 * knows (orphans). Listing runs one reconcile pass first: that is how the CLI enforces the lease
 * ceiling and idle expiry, and finishes teardowns, even with no editor window open.
 * `cloudtrain machines destroy <id>` destroys and waits until the provider confirms it gone.
 */
export const runMachines = scoped(async (argv, io) => {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { json: { type: 'boolean' }, all: { type: 'boolean' } } });
  const drivers = driversFromEnv(io.env, { sleep: (ms) => delay(ms, undefined, { signal: io.scope.signal }) });
  const dir = dataLayout(io.dataHome).historyDir;
  const history = new JobHistory(dir, (w) => io.stderr.write(`warning: ${w.message}\n`));
  const manager = new LeaseManager({
    store: new LeaseStore(dir),
    drivers,
    onEnded: recordLeaseCostOnJobs(history),
    sleep: (ms) => delay(ms, undefined, { signal: io.scope.signal }),
    alert: (l, m) => io.stderr.write(`WARNING ${l.id}: ${m}\n`),
    ceilingMs: Number(io.env.CLOUD_TRAINING_LEASE_CEILING_MS) || undefined,
  });
  if (positionals[0] === 'destroy') {
    if (positionals.length !== 2) throw new UsageError(USAGE);
    return destroy(manager, positionals[1]!, io);
  }
  if (positionals.length) throw new UsageError(USAGE);

  let report: ReconcileReport = { changed: [], orphans: [], errors: [] };
  if (Object.keys(drivers).length) report = await enforceLeases(manager, history);
  const leases = (await manager.list()).filter((l) => values.all || isLive(l));
  if (values.json) {
    io.stdout.write(JSON.stringify({ leases, orphans: report.orphans, errors: report.errors, accounts: Object.keys(drivers) }, null, 2) + '\n');
    return report.errors.length ? 1 : 0;
  }
  if (!Object.keys(drivers).length) io.stderr.write('No cloud account in the environment (LAMBDA_API_KEY, DIGITALOCEAN_TOKEN, RUNPOD_API_KEY): showing recorded leases only, nothing checked.\n');
  for (const e of report.errors) io.stderr.write(`WARNING: ${e}\n`);
  io.stdout.write(leases.length ? table(leases) : 'No rented machines.\n');
  for (const o of report.orphans) {
    io.stdout.write(`ORPHAN ${o.provider} ${o.id} "${o.name}" ${o.providerState}${o.pricePerHour !== undefined ? ` $${o.pricePerHour.toFixed(2)}/h` : ''} — ours but in no lease: cloudtrain machines destroy ${o.id}\n`);
  }
  return report.errors.length ? 1 : 0;
});

async function destroy(manager: LeaseManager, id: string, io: ScopedIO): Promise<number> {
  const leases = await manager.list();
  let lease = leases.find((l) => l.id === id) ?? leases.find((l) => l.instanceId === id && isLive(l));
  if (!lease) {
    const { orphans } = await manager.reconcile();
    const orphan = orphans.find((o) => o.id === id);
    if (!orphan) throw new Error(`No machine "${id}" (neither a lease id, nor an instance id, nor an orphan of a connected account)`);
    lease = await manager.adoptOrphanForDestroy(orphan.provider, orphan);
  } else if (!isLive(lease)) {
    io.stdout.write(`${lease.id} is already ${lease.state}\n`);
    return 0;
  } else {
    lease = await manager.requestDestroy(lease.id, 'destroyed from the CLI');
  }
  io.stderr.write(`Destroying ${lease.provider} ${lease.instanceId ?? lease.name}; waiting until ${lease.provider} confirms it is gone…\n`);
  // CLOUD_TRAINING_MACHINES_POLL_MS: how often to ask whether it is gone (default 5 s; tests use less).
  const pollMs = Number(io.env.CLOUD_TRAINING_MACHINES_POLL_MS) || 5_000;
  const gone = await manager.settle(lease.id, { pollMs, maxSteps: Math.ceil(600_000 / pollMs) });
  io.stdout.write(`${gone.id}: ${gone.state}${gone.cost ? `, cost $${gone.cost.actual.toFixed(2)} over ${formatDuration(gone.cost.seconds)}` : ''}\n`);
  return 0;
}

function table(leases: Lease[], now = Date.now()): string {
  const rows = leases.map((l) => {
    const since = l.launchStartedAt ? Date.parse(l.launchStartedAt) : undefined;
    const end = l.goneAt ? Date.parse(l.goneAt) : now;
    const hours = since !== undefined ? (end - since) / 3600_000 : 0;
    const cost = l.cost?.actual ?? (l.pricePerHour !== undefined ? l.pricePerHour * hours : undefined);
    const policy = l.policy.kind === 'idle' ? `idle ${l.policy.minutes}m` : l.policy.kind;
    return [l.id, l.provider, l.gpu, l.state, since !== undefined ? formatDuration((end - since) / 1000) : '-',
      l.pricePerHour !== undefined ? `$${l.pricePerHour.toFixed(2)}/h` : '-', cost !== undefined ? `$${cost.toFixed(2)}` : '-', policy,
      l.host ? `${l.host}:${l.port}` : '-', l.lastError ? `! ${l.lastError}` : ''];
  });
  const head = ['LEASE', 'PROVIDER', 'GPU', 'STATE', 'AGE', 'PRICE', 'COST', 'POLICY', 'SSH', ''];
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}
