import * as vscode from 'vscode';
import { mkdirSync, watch } from 'node:fs';
import type { CloudDriver, CloudProviderId, GpuOffer } from '../../core/cloud/driver';
import { Disposable } from '../disposable';
import type { ExtensionServices } from '../services';
import { burnRate, machineRows, statusBarText, type MachineRow, type Orphan } from './model';
import type { Lease, TeardownPolicy } from '../../core/leases/schema';
import type { LeaseManager } from '../../core/leases/manager';

// Lease code loads on first use (the timer's first pass), not at activation.
/* eslint-disable @typescript-eslint/no-require-imports */
const leases = () => ({
  ...(require('../../core/leases/manager') as typeof import('../../core/leases/manager')),
  ...(require('../../core/leases/store') as typeof import('../../core/leases/store')),
  ...(require('../../core/leases/enforce') as typeof import('../../core/leases/enforce')),
  ...(require('../../core/leases/job-cost') as typeof import('../../core/leases/job-cost')),
});
const accounts = () => require('../../core/cloud/accounts') as typeof import('../../core/cloud/accounts');
const launchJob = () => require('../../core/leases/launch-job') as typeof import('../../core/leases/launch-job');
const leaseHosts = () => require('../../providers/ssh/lease-hosts') as typeof import('../../providers/ssh/lease-hosts');
/* eslint-enable @typescript-eslint/no-require-imports */

const SECRET = (p: CloudProviderId) => `cloudTraining.cloud.${p}.apiKey`;
// Plain constants here (the clients behind accounts.ts load on first use, not at activation).
const CLOUD_PROVIDERS: readonly CloudProviderId[] = ['lambda', 'digitalocean', 'runpod'];
const CLOUD_LABELS: Record<CloudProviderId, string> = { lambda: 'Lambda Cloud', digitalocean: 'DigitalOcean', runpod: 'RunPod' };
const CLOUD_KEY_ENV: Record<CloudProviderId, string> = { lambda: 'LAMBDA_API_KEY', digitalocean: 'DIGITALOCEAN_TOKEN', runpod: 'RUNPOD_API_KEY' };
/** How often every open window enforces idle expiry, the ceiling and teardowns (and lists orphans). */
const RECONCILE_MS = 60_000;

/**
 * Rented GPU machines in the editor: *Connect Cloud Account…* (SecretStorage, checked at once), the
 * **Machines** view (every lease and orphan, Destroy / Keep / Open SSH Terminal), the burn-rate
 * status bar item, a reconcile timer (every window enforces the policies), and *New GPU machine*
 * for Submit… — the same core flow as `cloudtrain submit --provider lambda|digitalocean|runpod`.
 */
export function registerMachines(services: ExtensionServices): void {
  const machines = new Machines(services);
  services.context.subscriptions.push(machines);
}

type Node = MachineRow;

class Machines extends Disposable implements vscode.TreeDataProvider<Node> {
  private leases: Lease[] = [];
  private orphans: Orphan[] = [];
  private errors: string[] = [];
  private running: Promise<void> | undefined;
  private loaded = false;
  private readonly changed = this._register(new vscode.EventEmitter<Node | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  private readonly status = this._register(vscode.window.createStatusBarItem('cloudTraining.machines.burn', vscode.StatusBarAlignment.Left, 49));
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly services: ExtensionServices) {
    super();
    this.status.name = 'Cloud Training: rented machines';
    this.status.command = 'cloudTraining.machines.focus';
    this._register(vscode.window.createTreeView('cloudTraining.machines', { treeDataProvider: this }));
    const reg = (id: string, fn: (...a: never[]) => unknown) => this._register(vscode.commands.registerCommand(id, fn));
    reg('cloudTraining.machines.connectAccount', () => this.connectAccount());
    reg('cloudTraining.machines.refresh', () => this.refresh(true));
    reg('cloudTraining.machines.destroy', (n?: Node | string) => this.destroy(n));
    reg('cloudTraining.machines.keep', (n?: Node | string) => this.keep(n));
    reg('cloudTraining.machines.setPolicy', (n?: Node | string) => this.changePolicy(n));
    reg('cloudTraining.machines.openTerminal', (n?: Node | string) => this.openTerminal(n));
    reg('cloudTraining.machines.submitNew', (configFile?: string) => this.submitNew(configFile));
    // For the e2e suite and other commands: the rows as shown.
    reg('cloudTraining.machines.rows', async () => { await this.refresh(false); return this.rows(); });
    // The timer: every open window enforces idle expiry, the ceiling and teardowns, even for machines it did not rent.
    const tick = () => { void this.refresh(true).finally(() => { if (!this.isDisposed) this.timer = setTimeout(tick, RECONCILE_MS); }); };
    this.timer = setTimeout(tick, 2_000);
    this._register({ dispose: () => clearTimeout(this.timer) });
    this.watchLeases();
  }

  /** leases.json changed (the CLI, another window, our own flow): re-read it, no provider calls. */
  private watchLeases(): void {
    let debounce: NodeJS.Timeout | undefined;
    try {
      mkdirSync(this.services.layout.historyDir, { recursive: true });
      const w = watch(this.services.layout.historyDir, (_e, name) => {
        if (name && name !== 'leases.json') return;
        clearTimeout(debounce);
        debounce = setTimeout(() => void this.refresh(false), 100);
      });
      w.on('error', (e) => this.services.log.warn(`Leases watcher: ${e.message}`));
      this._register({ dispose: () => { w.close(); clearTimeout(debounce); } });
    } catch (e) {
      this.services.log.warn(`Cannot watch leases.json (${(e as Error).message}); the Machines view refreshes every minute`);
    }
  }

  // ---- accounts ----

  private async keys(): Promise<Partial<Record<CloudProviderId, string>>> {
    const out: Partial<Record<CloudProviderId, string>> = {};
    for (const p of CLOUD_PROVIDERS) {
      const k = (await this.services.context.secrets.get(SECRET(p))) ?? process.env[CLOUD_KEY_ENV[p]];
      if (k) out[p] = k;
    }
    return out;
  }

  private async drivers(): Promise<Partial<Record<CloudProviderId, CloudDriver>>> {
    return accounts().driversFromKeys(await this.keys(), process.env);
  }

  private async manager(drivers?: Partial<Record<CloudProviderId, CloudDriver>>): Promise<LeaseManager> {
    const L = leases();
    return new L.LeaseManager({
      store: new L.LeaseStore(this.services.layout.historyDir),
      drivers: drivers ?? await this.drivers(),
      onEnded: L.recordLeaseCostOnJobs(this.services.history),
      alert: (l, m) => {
        this.services.log.error(`Machine ${l.id}: ${m}`);
        void vscode.window.showErrorMessage(`Cloud Training: ${m}`, 'Show Machines').then((c) => c && vscode.commands.executeCommand('cloudTraining.machines.focus'));
      },
    });
  }

  private async connectAccount(): Promise<void> {
    const pick = await vscode.window.showQuickPick(CLOUD_PROVIDERS.map((p) => ({ label: CLOUD_LABELS[p], description: `or ${CLOUD_KEY_ENV[p]} in the environment`, p })), { title: 'Connect Cloud Account', placeHolder: 'Which GPU cloud?' });
    if (!pick) return;
    const key = await vscode.window.showInputBox({ title: `${CLOUD_LABELS[pick.p]} API key`, password: true, ignoreFocusOut: true, prompt: 'Kept in VS Code\'s SecretStorage (never in settings or logs); checked now with a read-only call.' });
    if (!key?.trim()) return;
    const driver = accounts().driversFromKeys({ [pick.p]: key.trim() }, process.env)[pick.p]!;
    try {
      const who = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Checking the ${CLOUD_LABELS[pick.p]} key…` }, () => driver.whoami());
      await this.services.context.secrets.store(SECRET(pick.p), key.trim());
      void vscode.window.showInformationMessage(`Cloud Training: connected ${CLOUD_LABELS[pick.p]} (${who}).`);
      await this.refresh(true);
    } catch (e) {
      void vscode.window.showErrorMessage(`Cloud Training: the ${CLOUD_LABELS[pick.p]} key was not accepted, nothing saved: ${(e as Error).message}`);
    }
  }

  // ---- the view ----

  private rows(): MachineRow[] { return machineRows(this.leases, this.orphans, this.errors, Date.now()); }

  /** Read leases (and, with `reconcile`, run one enforcement pass: policies, ceiling, orphans). One at a time. */
  refresh(reconcile: boolean): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const drivers = await this.drivers();
        const manager = await this.manager(drivers);
        if (reconcile && Object.keys(drivers).length) {
          const report = await leases().enforceLeases(manager, this.services.history);
          this.orphans = report.orphans;
          this.errors = report.errors;
        }
        this.leases = await manager.list();
        this.loaded = true;
      } catch (e) {
        this.errors = [`Rented machines not checked: ${(e as Error).message}`];
        this.services.log.warn(this.errors[0]!);
      } finally {
        this.running = undefined;
        this.render();
      }
    })();
    return this.running;
  }

  private render(): void {
    this.changed.fire(undefined);
    const b = burnRate(this.leases, this.orphans);
    const text = statusBarText(b);
    void vscode.commands.executeCommand('setContext', 'cloudTraining.hasMachines', b.machines > 0);
    if (!text) { this.status.hide(); return; }
    this.status.text = text;
    this.status.tooltip = `Rented GPU machines billing now: ${b.machines}, $${b.perHour.toFixed(2)}/h${b.unpriced ? ` (+${b.unpriced} without a known price)` : ''}. Click for the Machines view.`;
    this.status.backgroundColor = this.orphans.length ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.status.show();
  }

  getChildren(node?: Node): Node[] | Promise<Node[]> {
    if (node) return [];
    if (!this.loaded) return this.refresh(false).then(() => this.rows());
    return this.rows();
  }

  getTreeItem(n: Node): vscode.TreeItem {
    const item = new vscode.TreeItem(n.label, vscode.TreeItemCollapsibleState.None);
    item.id = n.id;
    item.description = n.description;
    item.tooltip = n.tooltip;
    item.contextValue = n.contextValue;
    item.iconPath = new vscode.ThemeIcon(n.warning ? 'warning' : n.state === 'active' ? 'vm-running' : n.state === 'gone' || n.state === 'failed' ? 'vm-outline' : 'loading~spin');
    return item;
  }

  // ---- actions ----

  private async resolve(n?: Node | string): Promise<MachineRow | undefined> {
    if (typeof n === 'object' && n) return n;
    await this.refresh(false);
    const rows = this.rows().filter((r) => r.kind !== 'error' && (r.kind === 'orphan' || r.contextValue.includes('live')));
    if (typeof n === 'string') return rows.find((r) => r.leaseId === n || r.instanceId === n);
    const pick = await vscode.window.showQuickPick(rows.map((r) => ({ label: r.label, description: r.description, r })), { placeHolder: 'Which machine?' });
    return pick?.r;
  }

  private async destroy(arg?: Node | string): Promise<void> {
    const row = await this.resolve(arg);
    if (!row) return;
    const ok = await vscode.window.showWarningMessage(`Destroy ${row.label}?`, { modal: true, detail: `${row.provider} ${row.instanceId ?? ''}: everything on it is lost. Cloud Training waits until ${row.provider} confirms it gone.` }, 'Destroy');
    if (ok !== 'Destroy') return;
    const manager = await this.manager();
    try {
      const lease = row.kind === 'orphan'
        ? await manager.adoptOrphanForDestroy(row.provider!, this.orphans.find((o) => o.id === row.instanceId && o.provider === row.provider)!)
        : await manager.requestDestroy(row.leaseId!, 'destroyed from the editor');
      this.render();
      const gone = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Destroying ${row.label}; waiting for ${row.provider} to confirm…` },
        () => manager.settle(lease.id, { pollMs: 3_000, maxSteps: 200 }));
      void vscode.window.showInformationMessage(`Cloud Training: ${row.label} is ${gone.state}${gone.cost ? `, cost $${gone.cost.actual.toFixed(2)}` : ''}.`);
    } catch (e) {
      void vscode.window.showErrorMessage(`Cloud Training: destroying ${row.label} is not confirmed: ${(e as Error).message}. It is retried by every refresh.`);
    } finally {
      await this.refresh(true);
    }
  }

  private async keep(arg?: Node | string): Promise<void> {
    const row = await this.resolve(arg);
    if (!row?.leaseId) return;
    await (await this.manager()).setPolicy(row.leaseId, { kind: 'keep' });
    void vscode.window.showInformationMessage(`Cloud Training: ${row.label} is kept until you destroy it (it bills by the hour; the ceiling still applies).`);
    await this.refresh(false);
  }

  private async changePolicy(arg?: Node | string): Promise<void> {
    const row = await this.resolve(arg);
    if (!row?.leaseId) return;
    const policy = await pickPolicy();
    if (!policy) return;
    await (await this.manager()).setPolicy(row.leaseId, policy);
    await this.refresh(false);
  }

  private async openTerminal(arg?: Node | string): Promise<void> {
    const row = await this.resolve(arg);
    const lease = this.leases.find((l) => l.id === row?.leaseId);
    if (!lease?.host) return;
    const known = leaseHosts().leaseKnownHostsFile(this.services.layout.home);
    const key = lease.identityFile ?? `${leaseHosts().leaseKeyDir(this.services.layout.home)}/id_ed25519`;
    const term = vscode.window.createTerminal({
      name: `${lease.gpu} (${lease.provider})`, shellPath: 'ssh',
      shellArgs: ['-i', key, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${known}`, '-p', String(lease.port ?? 22), `${lease.sshUser ?? 'root'}@${lease.host}`],
    });
    term.show();
  }

  // ---- Submit… → New GPU machine ----

  private async submitNew(configFile?: string): Promise<void> {
    const keys = await this.keys();
    const connected = CLOUD_PROVIDERS.filter((p) => keys[p]);
    if (!connected.length) {
      const c = await vscode.window.showInformationMessage('Cloud Training: connect a Lambda Cloud, DigitalOcean or RunPod account first.', 'Connect Cloud Account…');
      if (c) await this.connectAccount();
      return;
    }
    if (!configFile) { await vscode.commands.executeCommand('cloudTraining.submit'); return; }
    const provider = connected.length === 1 ? connected[0]! : (await vscode.window.showQuickPick(connected.map((p) => ({ label: CLOUD_LABELS[p], p })), { placeHolder: 'Which account?' }))?.p;
    if (!provider) return;
    const drivers = await this.drivers();
    const driver = drivers[provider]!;
    let offers: GpuOffer[] | undefined;
    let listingError: string | undefined;
    try {
      offers = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Reading ${CLOUD_LABELS[provider]}'s available GPUs…` }, () => driver.listGpus());
    } catch (e) {
      listingError = (e as Error).message;
    }
    const { FALLBACK_PRICES, FALLBACK_PRICES_CHECKED_AT } = require('../../core/leases/fallback-prices') as typeof import('../../core/leases/fallback-prices'); // eslint-disable-line @typescript-eslint/no-require-imports
    type GpuPick = vscode.QuickPickItem & { gpu: string; region?: string };
    const items: GpuPick[] = offers
      ? offers.flatMap((o) => (o.regions.length ? o.regions : [undefined]).map((region) => ({ label: o.label, description: `${o.pricePerHour !== undefined ? `$${o.pricePerHour.toFixed(2)}/h` : 'price not listed'}${region ? ` · ${region}` : ''}`, detail: o.id, gpu: o.id, region })))
      : Object.entries(FALLBACK_PRICES[provider]).map(([gpu, price]) => ({ label: gpu, description: `$${price.toFixed(2)}/h (dated table ${FALLBACK_PRICES_CHECKED_AT})`, gpu }));
    if (!offers) void vscode.window.showWarningMessage(`Cloud Training: could not read ${CLOUD_LABELS[provider]}'s listing (${listingError}); prices below come from the dated table of ${FALLBACK_PRICES_CHECKED_AT} and may be out of date.`);
    if (offers && !items.length) { void vscode.window.showWarningMessage(`Cloud Training: ${CLOUD_LABELS[provider]} has no GPU capacity listed right now.`); return; }
    const gpu = await vscode.window.showQuickPick(items, { title: `New GPU machine on ${CLOUD_LABELS[provider]}`, placeHolder: 'Which GPU and region? (available now, with the provider\'s hourly price)', matchOnDetail: true });
    if (!gpu) return;
    const policy = await pickPolicy();
    if (!policy) return;
    const command = await vscode.window.showInputBox({ title: 'Training command on the machine', value: 'python3 train.py --config {config} --output_dir {output_dir}', prompt: '{config} {dataloader} {output_dir} {job_id} are filled in', ignoreFocusOut: true });
    if (!command) return;

    const { configKind } = require('../../core/submit/config-kind') as typeof import('../../core/submit/config-kind'); // eslint-disable-line @typescript-eslint/no-require-imports
    const { runSubmission } = require('../submit/register') as typeof import('../submit/register'); // eslint-disable-line @typescript-eslint/no-require-imports
    const { readSubmitSettings } = require('../submit/settings') as typeof import('../submit/settings'); // eslint-disable-line @typescript-eslint/no-require-imports
    const { userPricing } = require('../../core/submit/settings') as typeof import('../../core/submit/settings'); // eslint-disable-line @typescript-eslint/no-require-imports
    const { estimateCost } = require('../../core/cost/estimate') as typeof import('../../core/cost/estimate'); // eslint-disable-line @typescript-eslint/no-require-imports
    const kind = await configKind(configFile);
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(configFile));
    const workspace = folder?.uri.fsPath ?? require('node:path').dirname(require('node:path').dirname(configFile)); // eslint-disable-line @typescript-eslint/no-require-imports
    const settings = readSubmitSettings(vscode.Uri.file(workspace));
    const training = estimateCost({ provider: 'ssh', hardware: gpu.gpu, history: await this.services.history.list() }).durationSeconds;
    const manager = await this.manager(drivers);
    const H = leaseHosts();
    try {
      const outcome = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Cloud Training: new GPU machine', cancellable: true }, async (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort(new DOMException('Cancelled by the user', 'AbortError')));
        return launchJob().launchLeasedJob({ provider, gpu: gpu.gpu, region: gpu.region, policy, training }, {
          manager, drivers, keyDir: H.leaseKeyDir(this.services.layout.home), knownHostsFile: H.leaseKnownHostsFile(this.services.layout.home),
          history: this.services.history, limits: settings.limits, pricing: userPricing(settings), signal: controller.signal,
          report: (line) => { progress.report({ message: line }); this.services.log.info(line); void this.refresh(false); },
          confirmEstimate: async (e) => {
            const yes = 'Rent and Start';
            const detail = `${e.gpuLabel} at $${e.pricePerHour.toFixed(2)}/h (price from ${e.priceNote}).\nWhole lease: $${e.cost.expected.toFixed(2)} (range $${e.cost.low.toFixed(2)}–$${e.cost.high.toFixed(2)}) for boot + sync + training + download.\nBilled from launch until ${CLOUD_LABELS[provider]} confirms the machine gone. Teardown: ${policy.kind === 'destroy' ? 'destroy when the job ends' : policy.kind === 'idle' ? `after ${policy.minutes} idle minutes` : 'kept until you destroy it'}.`;
            return (await vscode.window.showWarningMessage(`Rent a GPU machine on ${CLOUD_LABELS[provider]}?`, { modal: true, detail }, yes)) === yes;
          },
          submit: async (hardware) => {
            const [job] = (await runSubmission(this.services, [{
              provider: 'ssh', hardware, workspace, command,
              trainingConfigPath: kind === 'training' ? configFile : undefined, dataloaderConfigPath: kind === 'dataloader' ? configFile : undefined,
            }])) ?? [];
            if (!job) throw new Error('the job was not started on the machine');
            return job;
          },
        });
      });
      await this.refresh(false);
      await vscode.commands.executeCommand('cloudTraining.showLogs', outcome.job.id);
      void vscode.window.showInformationMessage(`Cloud Training: "${outcome.job.name}" runs on ${outcome.estimate.gpuLabel} (${CLOUD_LABELS[provider]}, lease ${outcome.lease.id}). ${policy.kind === 'destroy' ? 'The machine is destroyed when the job ends.' : ''}`);
    } catch (e) {
      this.services.log.error(`New GPU machine: ${(e as Error).stack ?? e}`);
      void vscode.window.showErrorMessage(`Cloud Training: ${(e as Error).message}`);
      await this.refresh(true);
    }
  }
}

async function pickPolicy(): Promise<TeardownPolicy | undefined> {
  const items: (vscode.QuickPickItem & { policy: TeardownPolicy })[] = [
    { label: 'Destroy when the job ends', description: 'default', detail: 'Also when it fails or is cancelled; verified with the provider', policy: { kind: 'destroy' } },
    { label: 'Keep 15 minutes idle, then destroy', detail: 'A next job on it reuses the machine and its synced data', policy: { kind: 'idle', minutes: 15 } },
    { label: 'Keep 60 minutes idle, then destroy', policy: { kind: 'idle', minutes: 60 } },
    { label: 'Keep until I destroy it', detail: 'Bills by the hour; the lease ceiling (24 h) still applies', policy: { kind: 'keep' } },
  ];
  return (await vscode.window.showQuickPick(items, { title: 'When should the machine be destroyed?' }))?.policy;
}
