import * as vscode from 'vscode';
// The provider and import code load on first use, not at activation.
/* eslint-disable @typescript-eslint/no-require-imports */
const replicateProvider = () => require('../../providers/replicate/provider') as typeof import('../../providers/replicate/provider');
const replicateImport = () => require('../../providers/replicate/import') as typeof import('../../providers/replicate/import');
/* eslint-enable @typescript-eslint/no-require-imports */
import type { ExtensionServices } from '../services';
import { preparedLocalEndpoint, secretLookup } from '../server/register';

/** SecretStorage keys. The tokens never go to settings, logs or job history. */
export const REPLICATE_TOKEN_KEY = 'cloudTraining.replicate.apiToken';
export const HF_TOKEN_KEY = 'cloudTraining.huggingface.token';

/**
 * Replicate in the editor: the provider built from SecretStorage + settings (replacing the CLI's
 * env-based one), and the commands to set/clear the token and import jobs started elsewhere.
 */
export function registerReplicate(services: ExtensionServices): void {
  const { context } = services;
  const setting = <T>(key: string) => vscode.workspace.getConfiguration('cloudTraining.replicate').get<T>(key);
  const deps = {
    getToken: async () => (await context.secrets.get(REPLICATE_TOKEN_KEY)) ?? process.env.REPLICATE_API_TOKEN,
    getHfToken: async () => (await context.secrets.get(HF_TOKEN_KEY)) ?? process.env.HF_TOKEN,
    baseUrl: () => setting<string>('baseUrl')?.trim() || process.env.REPLICATE_BASE_URL,
    trainerModel: () => setting<string>('trainerModel')?.trim() || undefined,
    trainerVersion: () => setting<string>('trainerVersion')?.trim() || undefined,
    // Results destinations (F13): S3/HF secrets from SecretStorage, the local endpoint once prepared.
    secrets: secretLookup(services),
    localServer: preparedLocalEndpoint,
  };
  services.providers.register('replicate', () => new (replicateProvider().ReplicateProvider)(deps));

  context.subscriptions.push(
    vscode.commands.registerCommand('cloudTraining.replicate.setToken', async () => {
      const token = await vscode.window.showInputBox({
        title: 'Replicate API token',
        prompt: 'From replicate.com/account/api-tokens. Stored in VS Code\'s secret storage, never in settings.',
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() ? undefined : 'Paste a token'),
      });
      if (!token) return;
      const check = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Checking the Replicate token…', cancellable: true },
        (_p, cancel) => {
          const ac = new AbortController();
          cancel.onCancellationRequested(() => ac.abort());
          return new (replicateProvider().ReplicateProvider)({ ...deps, getToken: async () => token.trim() }).validateCredentials(ac.signal);
        },
      );
      if (!check.ok) {
        const again = await vscode.window.showErrorMessage(`The token was not saved. ${check.message}`, 'Try Again');
        if (again) await vscode.commands.executeCommand('cloudTraining.replicate.setToken');
        return;
      }
      await context.secrets.store(REPLICATE_TOKEN_KEY, token.trim());
      services.log.info(`Replicate token saved (${check.account ?? 'account unknown'})`);
      void vscode.window.showInformationMessage(check.message);
    }),

    vscode.commands.registerCommand('cloudTraining.replicate.clearToken', async () => {
      await context.secrets.delete(REPLICATE_TOKEN_KEY);
      services.log.info('Replicate token removed from secret storage');
      void vscode.window.showInformationMessage(process.env.REPLICATE_API_TOKEN
        ? 'Replicate token removed. REPLICATE_API_TOKEN from the environment is still used.'
        : 'Replicate token removed.');
    }),

    vscode.commands.registerCommand('cloudTraining.replicate.importJobs', async () => {
      const provider = services.providers.get('replicate');
      try {
        const remote = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: 'Listing recent Replicate jobs…' },
          () => provider.listRemote!(50, { dataHome: services.layout.home }),
        );
        const candidates = await replicateImport().importCandidates(services.history, remote);
        if (!candidates.length) {
          void vscode.window.showInformationMessage('No Replicate jobs to import: every recent prediction and training is already listed.');
          return;
        }
        const picked = await vscode.window.showQuickPick(
          candidates.map((r) => ({ label: r.name ?? r.providerJobId, description: `${r.status} · ${new Date(r.createdAt).toLocaleString()}`, detail: r.providerJobId, picked: r.status !== 'succeeded', r })),
          { canPickMany: true, title: 'Import Replicate jobs started elsewhere' },
        );
        if (!picked?.length) return;
        const added = await replicateImport().importRemoteJobs(services.history, services.layout, picked.map((p) => p.r));
        void vscode.window.showInformationMessage(`Imported ${added.length} Replicate job${added.length === 1 ? '' : 's'}.`);
      } catch (e) {
        void vscode.window.showErrorMessage((e as Error).message);
      }
    }),
  );
}
