import * as vscode from 'vscode';
import { StatsCache } from '../../core/config/stats';
import type { ExtensionServices } from '../services';
import { DataloaderCodeLensProvider } from './codelens';
import { ConfigDiagnostics } from './diagnostics';
import { packageWithProgress, pickDataloader } from './package-command';
import { extraExcludes } from './settings';
import { registerSnapshotCommands } from './snapshot';

/** Which documents get dataloader CodeLens (the same globs as the contributed JSON schema). */
export const DATALOADER_SELECTOR: vscode.DocumentSelector = [
  { scheme: 'file', pattern: '**/multidatabackend*.json' },
  { scheme: 'file', pattern: '**/config/dataloaders/*/*.json' },
];

/**
 * F1/F2/F3 in the editor: diagnostics on training and dataloader configs, CodeLens with dataset
 * counts and actions, the Package and Validate commands, and the file watcher that keeps counts and
 * folder checks current. Nothing heavy runs during activation: discovery starts after it, in the background.
 */
export function registerConfigFeatures(services: ExtensionServices): void {
  const { context, log } = services;
  const stats = new StatsCache({ extraExcludes: () => extraExcludes() });
  const diagnostics = new ConfigDiagnostics(log);
  const lenses = new DataloaderCodeLensProvider(stats, log);
  context.subscriptions.push(diagnostics, lenses, vscode.languages.registerCodeLensProvider(DATALOADER_SELECTOR, lenses));

  // One watcher for the workspace: a change under a counted dataset folder drops its cached count and,
  // debounced, refreshes lenses and folder diagnostics (a dataset created, emptied or deleted).
  const watcher = vscode.workspace.createFileSystemWatcher('**/*');
  let timer: NodeJS.Timeout | undefined;
  const onDisk = (uri: vscode.Uri) => {
    if (!stats.invalidate(uri.fsPath) && !diagnostics.isConfig(uri.fsPath)) return;
    clearTimeout(timer);
    timer = setTimeout(() => { lenses.refresh(); diagnostics.revalidateOpen(); }, 750);
  };
  context.subscriptions.push(watcher, watcher.onDidCreate(onDisk), watcher.onDidDelete(onDisk), watcher.onDidChange(onDisk), { dispose: () => clearTimeout(timer) });
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('cloudTraining.packaging.extraExcludes')) { stats.invalidate(); lenses.refresh(); }
  }));

  context.subscriptions.push(
    vscode.commands.registerCommand('cloudTraining.packageDataset', async (arg?: unknown) => {
      const uri = await pickDataloader(arg, (f) => diagnostics.isConfig(f));
      if (!uri) return void vscode.window.showWarningMessage('No dataloader config (multidatabackend*.json) found in this workspace.');
      return packageWithProgress(services, uri, (u) => void diagnostics.validateFile(u));
    }),
    vscode.commands.registerCommand('cloudTraining.validateConfigs', async () => {
      const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Validating training configs' }, () => diagnostics.validateWorkspace());
      const text = r.files ? `Checked ${r.files} config file${r.files === 1 ? '' : 's'}: ${r.errors} error${r.errors === 1 ? '' : 's'}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'}.` : 'No SimpleTuner configs found in this workspace.';
      if (r.errors) {
        if ((await vscode.window.showWarningMessage(text, 'Show Problems')) === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
      } else void vscode.window.showInformationMessage(text);
      return r;
    }),
  );

  registerSnapshotCommands(services);

  // Background discovery so every config's problems show up without opening it.
  const startup = setTimeout(() => { diagnostics.validateWorkspace().catch((e) => log.warn(`config discovery: ${(e as Error).message}`)); }, 1000);
  context.subscriptions.push({ dispose: () => clearTimeout(startup) });
}
