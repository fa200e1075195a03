import { driversFromEnv } from '../core/cloud/accounts';
import type { CloudDriver, CloudProviderId } from '../core/cloud/driver';
import type { JobHistory } from '../core/jobs/history';
import { recordLeaseCostOnJobs } from '../core/leases/job-cost';
import { LeaseManager } from '../core/leases/manager';
import { enforceLeases } from '../core/leases/enforce';
import { isLive } from '../core/leases/schema';
import { LeaseStore } from '../core/leases/store';
import { dataLayout } from '../core/paths';
import type { CliIO } from './io';

/**
 * The CLI's lease manager: accounts from the environment (LAMBDA_API_KEY, DIGITALOCEAN_TOKEN,
 * RUNPOD_API_KEY; base URLs from CLOUD_TRAINING_<PROVIDER>_URL), cost recorded on the jobs, alerts
 * on stderr. `sleep` is NOT tied to Ctrl-C by default: a teardown started after an interrupt must
 * still be able to wait for the provider.
 */
export function cliLeaseManager(io: CliIO, history: JobHistory, o: { sleep?: (ms: number) => Promise<void> } = {}): { manager: LeaseManager; drivers: Partial<Record<CloudProviderId, CloudDriver>> } {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const drivers = driversFromEnv(io.env, { sleep });
  const manager = new LeaseManager({
    store: new LeaseStore(dataLayout(io.dataHome).historyDir),
    drivers,
    onEnded: recordLeaseCostOnJobs(history),
    sleep,
    alert: (l, m) => io.stderr.write(`WARNING ${l.id}: ${m}\n`),
    ceilingMs: Number(io.env.CLOUD_TRAINING_LEASE_CEILING_MS) || undefined,
  });
  return { manager, drivers };
}

/**
 * One enforcement pass from a CLI command that is not about machines (`jobs`, `logs --follow`):
 * teardown policy at job end, idle expiry, the ceiling, orphans. Never fails the command: problems
 * are warnings. Skipped when no account is in the environment (nothing could be checked).
 */
export async function enforceFromCli(io: CliIO, history: JobHistory): Promise<void> {
  try {
    const { manager, drivers } = cliLeaseManager(io, history);
    if (!Object.keys(drivers).length) {
      const live = (await manager.list()).filter(isLive);
      if (live.length) io.stderr.write(`warning: ${live.length} rented machine(s) recorded but no cloud account in the environment: their teardown cannot be checked (cloudtrain machines)\n`);
      return;
    }
    const report = await enforceLeases(manager, history);
    for (const l of report.changed) if (l.state === 'gone') io.stderr.write(`Machine ${l.id} (${l.provider}) is gone${l.cost ? `, cost $${l.cost.actual.toFixed(2)}` : ''}.\n`);
    for (const o of report.orphans) io.stderr.write(`WARNING: orphan machine ${o.provider} ${o.id} "${o.name}"${o.pricePerHour !== undefined ? ` $${o.pricePerHour.toFixed(2)}/h` : ''}: ours but in no lease (cloudtrain machines destroy ${o.id})\n`);
    for (const e of report.errors) io.stderr.write(`WARNING: ${e}\n`);
  } catch (e) {
    io.stderr.write(`warning: rented machines not checked: ${(e as Error).message}\n`);
  }
}
