import * as vscode from 'vscode';
import { expandHome } from '../../core/paths';
import type { SecretLookup } from '../../core/destinations/schema';
import type { PlanContext } from '../../core/destinations';
import { LocalServerController, ServerSettings } from '../../server/controller';
import type { ExtensionServices } from '../services';

/** SecretStorage keys of this feature: `cloudTraining.<name>` (e.g. huggingface.token, s3:<keyId>, webhook.replicate). */
const secretKey = (name: string): string => `cloudTraining.${name}`;

export function secretLookup(services: ExtensionServices): SecretLookup {
  return secretLookupFor(services.context.secrets);
}

/** The same lookup straight from SecretStorage (for providers built before the services exist). */
export function secretLookupFor(storage: vscode.SecretStorage): SecretLookup {
  return async (name) => storage.get(secretKey(name));
}

function readSettings(): ServerSettings {
  const c = vscode.workspace.getConfiguration('cloudTraining.server');
  return {
    host: c.get<string>('host')?.trim() || '127.0.0.1',
    port: c.get<number>('port') ?? 0,
    storageDir: expandHome(c.get<string>('storageDir')?.trim() || '~/.simpletuner/cloud_outputs'),
  };
}

let current: LocalServerController | undefined;
let prepared: PlanContext['localServer'] | undefined;

/**
 * Start the server (if needed) for a job whose results come back to this machine, and keep what the
 * destination planner needs; providers read it synchronously through `preparedLocalEndpoint()`.
 */
export async function prepareLocalEndpoint(): Promise<NonNullable<PlanContext['localServer']>> {
  if (!current) throw new Error('The local results server is not available in this window');
  const server = await current.ensureStarted();
  prepared = { minter: await current.credentials(), storageEndpoint: server.storageEndpoint, storageDir: current.storageDir };
  return prepared;
}

export function preparedLocalEndpoint(): PlanContext['localServer'] | undefined {
  return prepared;
}

/** The window's server controller, for the submit flow (local destination) and the Replicate webhooks. */
export function localServerController(): LocalServerController | undefined {
  return current;
}

/**
 * The local results server: started on demand, restarted when `cloudTraining.server.*` changes,
 * closed with the extension. Commands: open the outputs folder, start/stop, store destination secrets.
 */
export function registerLocalServer(
  services: ExtensionServices,
  /** Providers that know their own signing secret (their `webhooks.secret()` capability). */
  providerSecret?: (provider: string) => Promise<string | undefined>,
): LocalServerController {
  const { context, log } = services;
  const controller = new LocalServerController({
    dataHome: services.layout.home,
    settings: readSettings,
    // A secret the user stored wins; otherwise ask the provider.
    webhookSecret: async (provider) => (await context.secrets.get(secretKey(`webhook.${provider}`))) ?? (await providerSecret?.(provider)),
    history: services.history,
    log: (l) => log.info(`[server] ${l}`),
  });
  current = controller;
  context.subscriptions.push(controller, { dispose: () => { if (current === controller) current = undefined; } });
  // A job minted credentials before this window (re)loaded: be there for its upload.
  void controller.resumeIfNeeded().then(
    (s) => s && log.info(`[server] resumed on ${s.url} for running jobs' uploads`),
    (e) => log.error(`[server] could not resume: ${(e as Error).message}`),
  );

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('cloudTraining.server')) void controller.settingsChanged().catch((err) => log.error(`server restart failed: ${(err as Error).message}`));
    }),

    vscode.commands.registerCommand('cloudTraining.openOutputsFolder', async (arg?: unknown) => {
      // From a job in the tree: its linked results folder; otherwise the whole storage folder.
      const job = typeof arg === 'string' ? await services.history.get(arg) : (arg as { job?: { id: string } } | undefined)?.job
        ? await services.history.get((arg as { job: { id: string } }).job.id) : undefined;
      const dir = job?.outputs.find((o) => o.kind === 'directory')?.uri ?? controller.storageDir;
      await vscode.workspace.fs.createDirectory(vscode.Uri.file(dir));
      await vscode.env.openExternal(vscode.Uri.file(dir));
    }),

    vscode.commands.registerCommand('cloudTraining.startLocalServer', async () => {
      try {
        const s = await controller.ensureStarted();
        const copy = 'Copy S3 endpoint';
        const pick = await vscode.window.showInformationMessage(`Cloud Training server on ${s.url} (S3 endpoint ${s.storageEndpoint})`, copy);
        if (pick === copy) await vscode.env.clipboard.writeText(s.storageEndpoint);
      } catch (e) {
        void vscode.window.showErrorMessage(`Cloud Training: could not start the local server: ${(e as Error).message}`);
      }
    }),

    vscode.commands.registerCommand('cloudTraining.stopLocalServer', async () => {
      await controller.stop();
      void vscode.window.showInformationMessage('Cloud Training server stopped.');
    }),

    vscode.commands.registerCommand('cloudTraining.setHuggingFaceToken', async () => {
      const token = await vscode.window.showInputBox({ prompt: 'HuggingFace access token (write)', password: true, ignoreFocusOut: true, placeHolder: 'hf_…' });
      if (token === undefined) return;
      if (token) await context.secrets.store(secretKey('huggingface.token'), token.trim());
      else await context.secrets.delete(secretKey('huggingface.token'));
    }),

    vscode.commands.registerCommand('cloudTraining.setS3SecretKey', async (knownKeyId?: unknown) => {
      const accessKeyId = typeof knownKeyId === 'string' && knownKeyId ? knownKeyId : await vscode.window.showInputBox({ prompt: 'S3 access key id', ignoreFocusOut: true });
      if (!accessKeyId) return;
      const secret = await vscode.window.showInputBox({ prompt: `Secret access key for ${accessKeyId}`, password: true, ignoreFocusOut: true });
      if (secret === undefined) return;
      await context.secrets.store(secretKey(`s3:${accessKeyId.trim()}`), secret);
    }),
  );
  return controller;
}
