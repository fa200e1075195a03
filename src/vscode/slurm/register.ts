import os from 'node:os';
import * as vscode from 'vscode';
import type { HostSources } from '../../providers/ssh/hosts';
import type { PartitionInfo } from '../../providers/slurm/commands';
import { pickSshHost, readSettingsHosts } from '../ssh/register';
import { vscodePrompter } from '../prompter';
import type { SlurmProvider } from '../../providers/slurm/provider';

// The provider's code loads when a Slurm submission is reviewed or a cluster added, not at activation.
/* eslint-disable @typescript-eslint/no-require-imports */
const slurmProvider = () => require('../../providers/slurm/provider') as typeof import('../../providers/slurm/provider');
const slurmCommands = () => require('../../providers/slurm/commands') as typeof import('../../providers/slurm/commands');
const slurmSsh = () => require('../../providers/slurm/ssh') as typeof import('../../providers/slurm/ssh');
/* eslint-enable @typescript-eslint/no-require-imports */
import {
  LauncherSchema, RESOURCE_FIELDS, SlurmClusterSchema, type Launcher, SlurmResources, maxCostUsd, slurmClustersFromSection, describeResources, editResource, formatResource,
  type ResourceField, type SlurmCluster,
} from '../../providers/slurm/resources';
import type { SubmitRequest } from '../../core/providers/types';
import type { ExtensionServices } from '../services';

/** `cloudTraining.slurm.clusters`, validated; a broken entry is reported and skipped, not fatal. */
export function readSlurmClusters(log?: vscode.LogOutputChannel): SlurmCluster[] {
  const raw = vscode.workspace.getConfiguration('cloudTraining').get<unknown>('slurm.clusters');
  return slurmClustersFromSection({ slurm: { clusters: raw } }, (m) => log?.warn(m));
}

/** A renderer for one cluster's scripts; it never connects (rendering needs no cluster). */
function rendererFor(cluster: SlurmCluster): SlurmProvider {
  return new (slurmProvider().SlurmProvider)({ cluster, connect: () => Promise.reject(new Error('preview only')) });
}

type Pick = vscode.QuickPickItem & { action: 'submit' | 'submit-edited' | 'script' | 'launcher' | 'program' | 'field'; field?: ResourceField };

const DEFAULT_PROGRAM = 'train.py --config {config}';

/**
 * Show the sbatch script and let the user edit the launch and resource fields before submitting.
 * Returns the request with the choices in `options`, or undefined when the user backed out.
 */
export async function reviewSlurmSubmission(cluster: SlurmCluster, request: SubmitRequest): Promise<SubmitRequest | undefined> {
  const renderer = rendererFor(cluster);
  const options = slurmProvider().SlurmSubmitOptionsSchema.parse(request.options ?? {});
  let resources: SlurmResources = renderer.resolveResources(options.resources);
  let launcher: Launcher = options.launcher;
  let program = options.program ?? request.command ?? DEFAULT_PROGRAM;
  const current = (): SubmitRequest => ({ ...request, options: { ...request.options, host: cluster.host, resources, launcher, program } });
  // The real job id is given at submission; the preview shows where its folder will be.
  const preview = { id: slurmProvider().PREVIEW_JOB_ID };
  let shown: { doc: vscode.TextDocument; text: string } | undefined;

  for (;;) {
    // Hand edits to the shown script are offered as-is (closed documents are gone, not edited).
    const edited = shown && !shown.doc.isClosed && shown.doc.getText() !== shown.text ? shown.doc.getText() : undefined;
    const items: Pick[] = [
      ...(edited ? [{ label: '$(edit) Submit the script as edited', description: 'the fields below are ignored', action: 'submit-edited', alwaysShow: true } as Pick] : []),
      { label: '$(rocket) Submit', description: describeResources(resources) + costNote(resources, cluster.pricePerGpuHour), action: 'submit', alwaysShow: true },
      { label: '$(file-code) Show sbatch script', action: 'script', alwaysShow: true },
      { label: 'Launch', kind: vscode.QuickPickItemKind.Separator, action: 'field' },
      { label: 'Launcher', description: launcher, action: 'launcher' },
      { label: 'Program', description: program, detail: 'Placeholders: {config} {dataloader} {output_dir} {dataset_dir} {code_dir}', action: 'program' },
      { label: 'Resources', kind: vscode.QuickPickItemKind.Separator, action: 'field' },
      ...RESOURCE_FIELDS.map((f): Pick => ({ label: f.label, description: formatResource(resources, f) || '—', action: 'field', field: f })),
    ];
    const picked = await vscode.window.showQuickPick(items, {
      title: `Slurm job on ${cluster.host}`, placeHolder: 'Pick a field to change it, then Submit', ignoreFocusOut: true,
    });
    if (!picked) return undefined;
    if (picked.action === 'submit') return current();
    if (picked.action === 'submit-edited' && edited) return { ...current(), options: { ...current().options, script: edited } };
    if (picked.action === 'script') {
      let text: string;
      try {
        text = renderer.renderScript(preview, current());
      } catch (e) {
        void vscode.window.showErrorMessage(`Cannot build the sbatch script: ${(e as Error).message}`);
        continue;
      }
      const doc = await vscode.workspace.openTextDocument({ language: 'shellscript', content: text });
      await vscode.window.showTextDocument(doc, { preview: true, preserveFocus: false, viewColumn: vscode.ViewColumn.Beside });
      shown = { doc, text };
      continue;
    }
    if (picked.action === 'launcher') {
      const l = await vscode.window.showQuickPick(LauncherSchema.options.map((o) => ({ label: o, picked: o === launcher })), { title: 'Launcher on each node' });
      if (l) launcher = LauncherSchema.parse(l.label);
      continue;
    }
    if (picked.action === 'program') {
      const p = await vscode.window.showInputBox({
        title: 'Program', value: program, ignoreFocusOut: true,
        prompt: launcher === 'srun' ? 'The command every node runs' : `Script and arguments that ${launcher} starts on every node`,
        validateInput: (t) => (t.trim() ? undefined : 'Give the program to run'),
      });
      if (p?.trim()) program = p.trim();
      continue;
    }
    const field = picked.field!;
    const next = await askField(field, resources);
    if (next) resources = next;
  }
}

function costNote(r: SlurmResources, price: number): string {
  const max = price > 0 ? maxCostUsd(r, price) : undefined;
  return max === undefined ? '' : ` · at most $${max.toFixed(2)} (${r.nodes * r.gpusPerNode} GPU × time limit)`;
}

async function askField(field: ResourceField, resources: SlurmResources): Promise<SlurmResources | undefined> {
  if (field.kind === 'choice') {
    const choice = await vscode.window.showQuickPick([...field.choices ?? []], { title: field.label });
    if (choice === undefined) return undefined;
    const r = editResource(resources, field, choice);
    return r.ok ? r.value : undefined;
  }
  let result: SlurmResources | undefined;
  const text = await vscode.window.showInputBox({
    title: field.label,
    value: formatResource(resources, field),
    prompt: field.kind === 'list' ? 'Options like --constraint=ib --exclusive' : 'Empty to clear (or restore the default)',
    ignoreFocusOut: true,
    validateInput: (t) => {
      const r = editResource(resources, field, t);
      if (r.ok) { result = r.value; return undefined; }
      return r.message;
    },
  });
  if (text === undefined) return undefined;
  const r = editResource(resources, field, text);
  return r.ok ? r.value : result;
}

async function pickCluster(clusters: SlurmCluster[], host?: string): Promise<SlurmCluster | undefined> {
  if (host) return clusters.find((c) => c.host === host);
  if (clusters.length <= 1) return clusters[0];
  const picked = await vscode.window.showQuickPick(
    clusters.map((c) => ({ label: c.host, description: c.partition, detail: c.sharedDir, cluster: c })),
    { title: 'Slurm cluster' },
  );
  return picked?.cluster;
}

/** ~/.ssh/config and `cloudTraining.ssh.hosts`, as the SSH provider's commands read them. */
export function slurmHostSources(log?: vscode.LogOutputChannel): HostSources {
  const configFile = vscode.workspace.getConfiguration('cloudTraining.ssh').get<string>('configFile')?.trim();
  return { settingsHosts: readSettingsHosts(log), configFile: configFile ? configFile.replace(/^~(?=$|\/)/, os.homedir()) : undefined };
}

/**
 * Mark an SSH host as a Slurm cluster: connect, check `sbatch --version`, pick a default partition
 * from `sinfo`, ask for the shared folder and the price, save to `cloudTraining.slurm.clusters`.
 */
async function addCluster(services: ExtensionServices): Promise<void> {
  const host = await pickSshHost(services, 'Slurm login node (an SSH host)');
  if (!host) return;
  const probe: SlurmCluster = { host, sharedDir: '~', pricePerGpuHour: 0 };
  let parts: PartitionInfo[];
  let version: string;
  const runner = await slurmSsh().connectCluster(probe, slurmHostSources(services.log), { prompter: vscodePrompter, log: (l) => services.log.info(l) })
    .catch((e: Error) => { void vscode.window.showErrorMessage(`Cannot connect to ${host}: ${e.message}`); return undefined; });
  if (!runner) return;
  try {
    const checked = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Looking for Slurm on ${host}…` }, async () => {
      const d = await slurmCommands().detectSlurm(runner);
      return d.isSlurm ? { d, parts: await slurmCommands().listPartitions(runner) } : { d, parts: [] };
    });
    if (!checked.d.isSlurm) {
      void vscode.window.showErrorMessage(`${host} is not a Slurm login node: ${checked.d.message}`);
      return;
    }
    parts = checked.parts;
    version = checked.d.message;
  } finally {
    await runner.dispose?.();
  }
  const partPick = await vscode.window.showQuickPick(
    [{ label: '(cluster default)', name: undefined as string | undefined }, ...parts.map((p) => ({ label: p.name, description: `${p.nodes} nodes ${p.gres !== '(null)' ? p.gres : ''}`, detail: `max ${p.timeLimit}${p.isDefault ? ' · default' : ''}`, name: p.name }))],
    { title: `${host}: ${version} — default partition` },
  );
  if (!partPick) return;
  const sharedDir = await vscode.window.showInputBox({
    title: 'Shared folder on the cluster', value: '$HOME/cloud-training', ignoreFocusOut: true,
    prompt: 'A folder every compute node sees (home, /scratch/$USER…). Datasets and job folders go here.',
    validateInput: (t) => (t.trim() ? undefined : 'Required'),
  });
  if (!sharedDir) return;
  const price = await vscode.window.showInputBox({
    title: 'Price per GPU-hour (USD)', value: '0', prompt: '0 for your own cluster; used for cost tracking',
    validateInput: (t) => (/^\d+(\.\d+)?$/.test(t.trim()) ? undefined : 'A number, e.g. 0 or 2.5'),
  });
  if (price === undefined) return;
  const entry = SlurmClusterSchema.parse({ host, sharedDir: sharedDir.trim(), pricePerGpuHour: Number(price), ...(partPick.name ? { partition: partPick.name } : {}) });
  const config = vscode.workspace.getConfiguration('cloudTraining');
  const existing = (config.get<unknown[]>('slurm.clusters') ?? []).filter((c) => (c as { host?: unknown })?.host !== host);
  await config.update('slurm.clusters', [...existing, entry], vscode.ConfigurationTarget.Global);
  void vscode.window.showInformationMessage(`Added the Slurm cluster ${host} (${version}).`);
}

/**
 * Commands:
 * - `cloudTraining.slurm.reviewSubmission` (request, host?) → the request with edited resources, or
 *   undefined: the submit flow calls it before submitting to Slurm.
 * - `cloudTraining.slurm.previewScript`: the script a training command would get, for a look.
 * - `cloudTraining.slurm.checkCluster`: is the login node reachable and a Slurm node (`sbatch --version`)?
 * - `cloudTraining.slurm.addCluster`: mark an SSH host as a Slurm cluster (detected with `sbatch --version`).
 */
export function registerSlurm(services: ExtensionServices): void {
  const { context, log } = services;
  const noClusters = async () => {
    const open = await vscode.window.showWarningMessage('No Slurm cluster is configured. Add one (login host and a shared folder) in the settings.', 'Open Settings');
    if (open) await vscode.commands.executeCommand('workbench.action.openSettings', 'cloudTraining.slurm.clusters');
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('cloudTraining.slurm.addCluster', () => addCluster(services)),
    vscode.commands.registerCommand('cloudTraining.slurm.reviewSubmission', async (request: SubmitRequest, host?: string) => {
      const clusters = readSlurmClusters(log);
      if (!clusters.length) { await noClusters(); return undefined; }
      const cluster = await pickCluster(clusters, host ?? (typeof request?.options?.host === 'string' ? request.options.host : undefined));
      return cluster ? reviewSlurmSubmission(cluster, request ?? {}) : undefined;
    }),

    vscode.commands.registerCommand('cloudTraining.slurm.previewScript', async () => {
      const clusters = readSlurmClusters(log);
      if (!clusters.length) return noClusters();
      const cluster = await pickCluster(clusters);
      if (!cluster) return;
      const command = await vscode.window.showInputBox({
        title: 'Training program', value: 'train.py --config config/config.json',
        prompt: 'Script and arguments that accelerate launch starts on every node',
      });
      if (command === undefined) return;
      await reviewSlurmSubmission(cluster, { command, options: { launcher: 'accelerate' } });
    }),

    vscode.commands.registerCommand('cloudTraining.slurm.checkCluster', async () => {
      const clusters = readSlurmClusters(log);
      if (!clusters.length) return noClusters();
      const cluster = await pickCluster(clusters);
      if (!cluster || !services.providers.has('slurm')) return;
      const provider = services.providers.get('slurm') as unknown as { forHost?(h: string): { validateCredentials(): Promise<{ ok: boolean; message: string }> } };
      const target = provider.forHost?.(cluster.host);
      if (!target) return;
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Checking ${cluster.host}…` },
        () => target.validateCredentials(),
      );
      log.info(`Slurm check ${cluster.host}: ${r.message}`);
      if (r.ok) void vscode.window.showInformationMessage(`${r.message}`);
      else void vscode.window.showErrorMessage(`${cluster.host} is not usable as a Slurm login node: ${r.message}`);
    }),
  );
}
