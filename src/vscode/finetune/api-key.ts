import * as vscode from 'vscode';
import type { CredentialCheck } from '../../core/providers/types';
import type { ExtensionServices } from '../services';

export interface ApiKeyCommand {
  /** Provider name for the messages ("Together AI"). */
  name: string;
  /** SecretStorage key; the key never goes to settings, logs or job history. */
  secretKey: string;
  /** Environment variable used when nothing is stored (the CLI's source too). */
  envVar: string;
  /** Where to create one. */
  hint: string;
  /** Checks the key against the provider before it is stored. */
  check(key: string, signal: AbortSignal): Promise<CredentialCheck>;
  /** Command ids to register. */
  setCommand: string;
  clearCommand: string;
}

/** Set / clear an API key in SecretStorage, checked with the provider first (as Replicate's token). */
export function registerApiKeyCommands(services: ExtensionServices, c: ApiKeyCommand): void {
  const { context, log } = services;
  context.subscriptions.push(
    vscode.commands.registerCommand(c.setCommand, async () => {
      const key = await vscode.window.showInputBox({
        title: `${c.name} API key`,
        prompt: `${c.hint} Stored in VS Code's secret storage, never in settings.`,
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() ? undefined : 'Paste a key'),
      });
      if (!key) return;
      const check = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Checking the ${c.name} key…`, cancellable: true },
        (_p, cancel) => {
          const ac = new AbortController();
          cancel.onCancellationRequested(() => ac.abort());
          return c.check(key.trim(), ac.signal);
        },
      );
      if (!check.ok) {
        const again = await vscode.window.showErrorMessage(`The ${c.name} key was not saved. ${check.message}`, 'Try Again');
        if (again) await vscode.commands.executeCommand(c.setCommand);
        return;
      }
      await context.secrets.store(c.secretKey, key.trim());
      log.info(`${c.name} API key saved${check.account ? ` (${check.account})` : ''}`);
      void vscode.window.showInformationMessage(check.message);
    }),
    vscode.commands.registerCommand(c.clearCommand, async () => {
      await context.secrets.delete(c.secretKey);
      log.info(`${c.name} API key removed from secret storage`);
      void vscode.window.showInformationMessage(process.env[c.envVar]
        ? `${c.name} key removed. ${c.envVar} from the environment is still used.`
        : `${c.name} key removed.`);
    }),
  );
}
