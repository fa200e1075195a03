import * as vscode from 'vscode';
import path from 'node:path';
import { writeFileAtomic } from '../../core/fs/atomic';
import { parseSubmitSettings, type SubmitSettings } from '../../core/submit/settings';
import type { ExtensionServices } from '../services';

const KEYS = ['uploadConsent', 'limits.daily', 'limits.monthly', 'limits.perProvider', 'pricing.ssh.perGpuHour', 'pricing.slurm.perGpuHour', 'local.command', 'packaging.extraExcludes', 'slurm.clusters', 'snapshots.enabled', 'local.capacity', 'ssh.hostCapacity', 'ssh.hostCapacities'] as const;

/** The submission settings as VS Code resolves them for `scope` (user < workspace < folder). */
export function readSubmitSettings(scope?: vscode.Uri): SubmitSettings {
  return parseSubmitSettings(settingsSection(scope));
}

function settingsSection(scope?: vscode.Uri): Record<string, unknown> {
  const cfg = vscode.workspace.getConfiguration('cloudTraining', scope);
  const section: Record<string, unknown> = {};
  for (const key of KEYS) {
    const value = cfg.get(key);
    if (value === undefined || value === null || value === '') continue;
    const parts = key.split('.');
    let node = section;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = value;
  }
  return section;
}

/**
 * Keeps `<dataHome>/settings.json` equal to the user-level consent policy, limits and prices, so
 * `cloudtrain` in any terminal obeys the same limits as the editor (the CLI also reads the workspace's
 * own .vscode/settings.json on top).
 */
export function mirrorSettingsForCli(services: ExtensionServices): void {
  const write = async () => {
    const cfg = vscode.workspace.getConfiguration('cloudTraining');
    const flat: Record<string, unknown> = {};
    for (const key of KEYS) {
      if (key === 'local.command') continue; // machine-specific command stays with the workspace
      const v = cfg.inspect(key)?.globalValue;
      if (v !== undefined && v !== null) flat[`cloudTraining.${key}`] = v;
    }
    const file = path.join(services.layout.home, 'settings.json');
    await writeFileAtomic(file, `${JSON.stringify({ $comment: 'Written by the Cloud Training extension from your user settings; read by the cloudtrain CLI.', ...flat }, null, 2)}\n`);
  };
  const run = () => void write().catch((e) => services.log.warn(`Could not write the CLI settings mirror: ${(e as Error).message}`));
  run();
  services.context.subscriptions.push(vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('cloudTraining')) run();
  }));
}
