import * as vscode from 'vscode';
import os from 'node:os';
import path from 'node:path';
import { parseSshDestination } from '../../core/ssh/destination';
import { checkGpus, describeGpus } from '../../providers/ssh/gpu';
import { listHostChoices, SettingsHostSchema, type HostSources, type SettingsHost } from '../../providers/ssh/hosts';
import type { SshProvider } from '../../providers/ssh/provider';

// The provider's code (sync, runs, templates) loads on first use, not at activation.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sshProvider = () => require('../../providers/ssh/provider') as typeof import('../../providers/ssh/provider');
import { vscodePrompter } from '../prompter';
import type { ExtensionServices } from '../services';
import { secretLookup } from '../server/register';

const SECTION = 'cloudTraining.ssh';

/** `cloudTraining.ssh.hosts`, validated; broken entries are logged and skipped. */
export function readSettingsHosts(log?: vscode.LogOutputChannel): SettingsHost[] {
  const raw = vscode.workspace.getConfiguration(SECTION).get<unknown[]>('hosts') ?? [];
  const out: SettingsHost[] = [];
  for (const [i, entry] of (Array.isArray(raw) ? raw : []).entries()) {
    const r = SettingsHostSchema.safeParse(entry);
    if (r.success) out.push(r.data);
    else log?.warn(`${SECTION}.hosts[${i}] ignored: ${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message}`);
  }
  return out;
}

function hostSources(log?: vscode.LogOutputChannel): HostSources {
  const configFile = vscode.workspace.getConfiguration(SECTION).get<string>('configFile')?.trim();
  return {
    settingsHosts: readSettingsHosts(log),
    configFile: configFile ? configFile.replace(/^~(?=$|\/)/, os.homedir()) : undefined,
  };
}

type HostPick = vscode.QuickPickItem & { host?: string; action?: 'add' | 'config' };

/** A Remote-SSH-like picker: settings hosts, ~/.ssh/config hosts, "Add New SSH Host…", "Configure…". */
export async function pickSshHost(services: ExtensionServices, title = 'Select an SSH host'): Promise<string | undefined> {
  const hosts = await listHostChoices(hostSources(services.log));
  const items: HostPick[] = [
    ...hosts.map((h): HostPick => ({ label: `$(remote) ${h.name}`, description: h.detail, detail: h.source === 'settings' ? 'from settings' : h.where, host: h.name })),
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(add) Add New SSH Host…', action: 'add', alwaysShow: true },
    { label: '$(gear) Configure SSH Hosts…', action: 'config', alwaysShow: true },
  ];
  const picked = await vscode.window.showQuickPick(items, { title, placeHolder: 'Hosts from settings and ~/.ssh/config', matchOnDescription: true });
  if (!picked) return undefined;
  if (picked.action === 'add') return addHost(services);
  if (picked.action === 'config') {
    const file = hostSources().configFile ?? path.join(os.homedir(), '.ssh', 'config');
    await vscode.window.showTextDocument(vscode.Uri.file(file)).then(undefined, () =>
      vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.hosts`));
    return undefined;
  }
  return picked.host;
}

/** Ask for `user@host[:port]` (or a pasted ssh command) and a name; saved to the user's settings. */
async function addHost(services: ExtensionServices): Promise<string | undefined> {
  const input = await vscode.window.showInputBox({
    title: 'Add SSH host',
    prompt: 'Enter the SSH connection, e.g. "ssh -p 2222 trainer@gpu.example.com". Keys and the SSH agent are used; passwords are never saved.',
    placeHolder: 'user@host[:port]',
    ignoreFocusOut: true,
    validateInput: (v) => {
      try {
        parseSshDestination(v);
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
  });
  if (!input) return undefined;
  const dest = parseSshDestination(input);
  const name = await vscode.window.showInputBox({
    title: 'Name for this host', value: dest.host.split('.')[0], ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'Give it a name'),
  });
  if (!name) return undefined;
  const entry = SettingsHostSchema.parse({ name: name.trim(), host: dest.host, user: dest.user, port: dest.port, identityFile: dest.identityFile });
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const existing = (cfg.get<unknown[]>('hosts') ?? []).filter((h) => (h as { name?: string })?.name !== entry.name);
  await cfg.update('hosts', [...existing, Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined))], vscode.ConfigurationTarget.Global);
  services.log.info(`SSH host "${entry.name}" added (${entry.user ? `${entry.user}@` : ''}${entry.host}${entry.port ? `:${entry.port}` : ''})`);
  return entry.name;
}

/**
 * SSH hosts in the editor: the provider (hosts from settings + ~/.ssh/config, host keys and
 * passphrases asked through VS Code), "Add SSH Host" and "Check GPUs on SSH Host".
 */
export function registerSsh(services: ExtensionServices): void {
  const { context, log } = services;
  services.providers.register('ssh', () => new (sshProvider().SshProvider)({
    cacheDir: services.layout.cacheDir,
    // Rented machines (leases) are SSH hosts `lease-<id>` too.
    hostSources: () => (require('../../providers/ssh/lease-hosts') as typeof import('../../providers/ssh/lease-hosts')).withLeaseHosts(hostSources(log), services.layout.home),
    killGraceSeconds: vscode.workspace.getConfiguration(SECTION).get<number>('killGraceSeconds', 10),
    // Results delivery (F13): HF token and S3 secret keys from SecretStorage.
    secrets: secretLookup(services),
  }));
  const provider = () => services.providers.get('ssh') as SshProvider;

  context.subscriptions.push(
    vscode.commands.registerCommand('cloudTraining.ssh.addHost', () => addHost(services)),
    vscode.commands.registerCommand('cloudTraining.ssh.pickHost', () => pickSshHost(services)),
    vscode.commands.registerCommand('cloudTraining.ssh.checkGpus', async (hostArg?: string) => {
      const host = typeof hostArg === 'string' ? hostArg : await pickSshHost(services, 'Check GPUs on which host?');
      if (!host) return undefined;
      try {
        const report = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Checking GPUs on ${host}…`, cancellable: true },
          async (_p, token) => {
            const ac = new AbortController();
            token.onCancellationRequested(() => ac.abort());
            const conn = await provider().connection(host, { prompter: vscodePrompter, signal: ac.signal, log: (l) => log.info(l) });
            return checkGpus(conn, ac.signal);
          },
        );
        const text = describeGpus(report);
        log.info(`GPU check ${host}:\n${text}`);
        if (report.warning) void vscode.window.showWarningMessage(`${host}: ${report.warning} You can still use it (e.g. for CPU tests).`);
        else void vscode.window.showInformationMessage(`${host}: ${report.gpus.length} GPU(s)`, { modal: false, detail: text }, 'Show Details')
          .then((b) => { if (b) log.show(true); });
        return report;
      } catch (e) {
        const msg = (e as Error).message;
        log.error(`GPU check ${host}: ${msg}`);
        // A changed host key must be impossible to miss.
        if ((e as { code?: string }).code === 'HOST_KEY_CHANGED') void vscode.window.showErrorMessage(msg, { modal: true });
        else void vscode.window.showErrorMessage(`Cannot check ${host}: ${msg}`);
        return undefined;
      }
    }),
  );
}
