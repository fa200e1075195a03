// A rented GPU machine in the Machines view: a lease launched on the Lambda stand-in (its machine is
// a real sshd on 127.0.0.1) appears with its GPU, state, price and policy, the status bar shows the
// burn rate, and Destroy from the row's context menu (confirmed in the modal) tears it down: the
// stand-in reports it terminated and the lease is gone.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LambdaClient, LambdaDriver } from '../../src/core/cloud/lambda';
import { LeaseManager } from '../../src/core/leases/manager';
import { LeaseStore } from '../../src/core/leases/store';
import { ensureLeaseKey } from '../../src/core/leases/ssh-keys';
import { LambdaStandIn } from '../support/cloud-servers/lambda';
import { startSshd, type SshdFixture } from '../support/sshd';
import { workbench } from './support/hooks';
import { command, readManifest } from './support/manifest';
import { rowText, waitFor } from './support/workbench';

describe('Machines view', () => {
  let sshd: SshdFixture | undefined;
  let lambda: LambdaStandIn | undefined;
  let keys: string | undefined;
  after(async () => {
    await lambda?.stop();
    await sshd?.stop();
    if (keys) rmSync(keys, { recursive: true, force: true });
  });

  it('shows a leased machine with its price and burn rate, and destroys it (verified)', async function () {
    this.timeout(180_000);
    const wb = workbench();
    const destroy = command(readManifest(), 'cloudTraining.machines.destroy');
    assert.ok(destroy, 'package.json contributes cloudTraining.machines.destroy');
    const key = process.env.E2E_LAMBDA_KEY!;
    sshd = await startSshd();
    lambda = await new LambdaStandIn({ apiKey: key, sshd }).start(Number(process.env.E2E_LAMBDA_PORT));

    // Rent one machine into the extension's data folder, as `cloudtrain submit --provider lambda --keep` would.
    const driver = new LambdaDriver(new LambdaClient({ apiKey: key, baseUrl: lambda.url, sleep: async () => {} }), { sshPort: sshd.port });
    keys = mkdtempSync(path.join(os.tmpdir(), 'ct-e2e-keys-'));
    const k = await ensureLeaseKey(keys);
    const manager = new LeaseManager({ store: new LeaseStore(wb.env.dataHome), drivers: { lambda: driver }, sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 200))) });
    await manager.create({ id: 'e2e1', provider: 'lambda', account: 'lambda', gpu: 'gpu_1x_a10', region: 'us-east-1', policy: { kind: 'keep' } });
    await manager.launch('e2e1', { publicKey: k.publicKey, sshKeyRef: await driver.ensureSshKey(k.publicKey, 'cloud-training') });
    await manager.waitActive('e2e1', { pollMs: 200, maxPolls: 50 });
    assert.equal(lambda.running().length, 1);

    await wb.runCommand('Cloud Training: Focus on Machines View');
    await wb.runCommand('Cloud Training: Refresh Machines');
    const rows = wb.sideBar.locator('.monaco-list-row', { hasText: 'gpu_1x_a10' });
    const row = await waitFor('the leased machine in the Machines view', async () => {
      const t = (await rows.count()) ? await rowText(rows.first()) : '';
      return /gpu_1x_a10 · lambda active · .* · \$0\.75\/h · \$0\.\d\d so far · keep/.test(t) ? t : undefined;
    }, 60_000);
    console.log(`      row: ${row}`);
    const status = wb.page.locator('.part.statusbar .statusbar-item', { hasText: /1 machine · \$0\.75\/h/ });
    await status.first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.screenshot('09-machines-leased');

    await wb.contextMenu(rows.first(), destroy.title);
    const confirm = wb.dialogButton(/^Destroy$/);
    await confirm.waitFor({ state: 'visible', timeout: 10_000 });
    await wb.screenshot('09-machines-destroy-confirm');
    await confirm.click();
    await waitFor('the stand-in to report the machine terminated', () => lambda!.running().length === 0, 60_000);
    await waitFor('the lease to be gone (verified)', async () => (await new LeaseStore(wb.env.dataHome).get('e2e1'))?.state === 'gone', 60_000);
    await waitFor('the row to say gone', async () => /gone/.test(await rowText(rows.first())), 30_000);
    assert.equal(lambda.server.count('POST', /terminate$/), 1);
    await wb.screenshot('09-machines-destroyed');
  });
});
