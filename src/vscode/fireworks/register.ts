import * as vscode from 'vscode';
import type { ExtensionServices } from '../services';
import { registerApiKeyCommands } from '../finetune/api-key';
// The provider loads on first use, not at activation.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fireworksProvider = () => require('../../providers/fireworks/provider') as typeof import('../../providers/fireworks/provider');

/** SecretStorage key of the Fireworks API key (never in settings, logs or history). */
export const FIREWORKS_KEY = 'cloudTraining.fireworks.apiKey';

const setting = <T>(key: string) => vscode.workspace.getConfiguration('cloudTraining.fireworks').get<T>(key);

/**
 * Fireworks in the editor: the provider built from SecretStorage (else FIREWORKS_API_KEY), the account
 * id setting (else FIREWORKS_ACCOUNT_ID; not a secret) and the base URL setting (else FIREWORKS_BASE_URL),
 * and the commands to set / clear the key and set the account id.
 */
export function registerFireworks(services: ExtensionServices): void {
  const { context } = services;
  const getApiKey = async () => (await context.secrets.get(FIREWORKS_KEY)) ?? process.env.FIREWORKS_API_KEY;
  const getAccountId = async () => setting<string>('accountId')?.trim() || process.env.FIREWORKS_ACCOUNT_ID || undefined;
  const baseUrl = () => setting<string>('baseUrl')?.trim() || process.env.FIREWORKS_BASE_URL || undefined;
  services.providers.register('fireworks', () => fireworksProvider().fireworksProviderFromEnv(process.env, { getApiKey, getAccountId, baseUrl }));
  registerApiKeyCommands(services, {
    name: 'Fireworks',
    secretKey: FIREWORKS_KEY,
    envVar: 'FIREWORKS_API_KEY',
    hint: 'From app.fireworks.ai → Account → API keys.',
    setCommand: 'cloudTraining.fireworks.setApiKey',
    clearCommand: 'cloudTraining.fireworks.clearApiKey',
    check: async (key, signal) => {
      if (!(await getAccountId())) {
        const set = await vscode.commands.executeCommand<string | undefined>('cloudTraining.fireworks.setAccountId');
        if (!set) return { ok: false, message: 'A Fireworks account id is needed to check the key (cloudTraining.fireworks.accountId).' };
      }
      return fireworksProvider().fireworksProviderFromEnv(process.env, { getApiKey: async () => key, getAccountId, baseUrl }).validateCredentials(signal);
    },
  });
  context.subscriptions.push(vscode.commands.registerCommand('cloudTraining.fireworks.setAccountId', async () => {
    const id = await vscode.window.showInputBox({
      title: 'Fireworks account id',
      prompt: 'The account in your Fireworks dashboard URL (app.fireworks.ai/account/<id>). Saved in the user settings (it is not a secret).',
      value: setting<string>('accountId') ?? '',
      ignoreFocusOut: true,
      validateInput: (v) => (/^[a-z0-9][a-z0-9-]*$/.test(v.trim()) ? undefined : 'Lowercase letters, digits and hyphens'),
    });
    if (!id) return undefined;
    await vscode.workspace.getConfiguration('cloudTraining.fireworks').update('accountId', id.trim(), vscode.ConfigurationTarget.Global);
    return id.trim();
  }));
}
