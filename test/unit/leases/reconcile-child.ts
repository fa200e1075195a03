/**
 * A second process with no "window": builds its own LeaseManager over the same data folder and
 * stand-in URL, and runs reconcile() until the lease settles (bounded). Used by faults.test.ts.
 * Env: LEASE_DIR, LAMBDA_URL, LAMBDA_API_KEY, NOW_MS, LEASE_ID.
 */
import { LambdaClient, LambdaDriver } from '../../../src/core/cloud/lambda';
import { LeaseManager } from '../../../src/core/leases/manager';
import { LeaseStore } from '../../../src/core/leases/store';

async function main(): Promise<void> {
  let now = Number(process.env.NOW_MS);
  const store = new LeaseStore(process.env.LEASE_DIR!);
  const driver = new LambdaDriver(new LambdaClient({ apiKey: process.env.LAMBDA_API_KEY!, baseUrl: process.env.LAMBDA_URL!, sleep: async () => {} }));
  const manager = new LeaseManager({ store, drivers: { lambda: driver }, now: () => now });
  const id = process.env.LEASE_ID!;
  for (let i = 0; i < 10; i++) {
    await manager.reconcile();
    const l = await store.get(id);
    if (l && (l.state === 'gone' || l.state === 'failed')) break;
    now += 1000;
  }
  process.stdout.write(JSON.stringify(await store.get(id)));
}

main().catch((e) => { process.stderr.write(String(e?.stack ?? e)); process.exit(1); });
