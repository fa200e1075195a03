import * as vscode from 'vscode';
import type { ExtensionServices } from '../services';
import { registerApiKeyCommands } from '../finetune/api-key';
// The provider loads on first use, not at activation.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const togetherProvider = () => require('../../providers/together/provider') as typeof import('../../providers/together/provider');

/** SecretStorage key of the Together API key (never in settings, logs or history). */
export const TOGETHER_KEY = 'cloudTraining.together.apiKey';

/**
 * Together AI in the editor: the provider built from SecretStorage (else TOGETHER_API_KEY) and the
 * `cloudTraining.together.baseUrl` setting (else TOGETHER_BASE_URL), replacing the CLI's env-only one,
 * and the commands to set / clear the key.
 */
export function registerTogether(services: ExtensionServices): void {
  const { context } = services;
  const getApiKey = async () => (await context.secrets.get(TOGETHER_KEY)) ?? process.env.TOGETHER_API_KEY;
  const baseUrl = () => vscode.workspace.getConfiguration('cloudTraining.together').get<string>('baseUrl')?.trim() || process.env.TOGETHER_BASE_URL || undefined;
  services.providers.register('together', () => togetherProvider().togetherProviderFromEnv(process.env, { getApiKey, baseUrl }));
  registerApiKeyCommands(services, {
    name: 'Together AI',
    secretKey: TOGETHER_KEY,
    envVar: 'TOGETHER_API_KEY',
    hint: 'From api.together.ai → Settings → API keys.',
    setCommand: 'cloudTraining.together.setApiKey',
    clearCommand: 'cloudTraining.together.clearApiKey',
    check: (key, signal) => togetherProvider().togetherProviderFromEnv(process.env, { getApiKey: async () => key, baseUrl }).validateCredentials(signal),
  });
}
