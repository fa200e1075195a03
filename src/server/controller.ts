import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { JobHistory } from '../core/jobs/history';
import { CredentialStore, credentialFile } from './s3/credentials';
import type { LocalServer } from './index';
import { linkStoredObjectToJob } from './outputs-link';
import type { WebhookRoutes } from './webhooks';

export interface ServerSettings {
  host: string; port: number; storageDir: string;
  /** Where the S3 API is mounted (default `/api/cloud/storage`; `/` for the root, see `startLocalServer`). */
  storagePath?: string;
}

/**
 * Owns the one local server of an extension window: started on first need (a submission with the
 * local destination, a webhook-enabled provider, or the user), restarted when its settings change,
 * closed on dispose. Free of `vscode` so it is tested directly.
 */
export class LocalServerController {
  private server: LocalServer | undefined;
  private starting: Promise<LocalServer> | undefined;
  private credentialStore: Promise<CredentialStore> | undefined;
  private webhookHandler: WebhookRoutes['handler'] | undefined;
  private settingsInUse: ServerSettings | undefined;

  constructor(private readonly opts: {
    dataHome: string;
    settings: () => ServerSettings;
    /** Webhook signing secret per provider (SecretStorage). */
    webhookSecret: (provider: string) => Promise<string | undefined>;
    history?: JobHistory;
    log?: (line: string) => void;
  }) {}

  get running(): LocalServer | undefined {
    return this.server;
  }

  get storageDir(): string {
    return (this.settingsInUse ?? this.opts.settings()).storageDir;
  }

  credentials(): Promise<CredentialStore> {
    this.credentialStore ??= CredentialStore.open(credentialFile(this.opts.dataHome));
    return this.credentialStore;
  }

  /** Where verified webhooks go (the extension routes them to each provider's `webhooks` capability). */
  setWebhookHandler(handler: WebhookRoutes['handler'] | undefined): void {
    this.webhookHandler = handler;
  }

  ensureStarted(): Promise<LocalServer> {
    if (this.server) return Promise.resolve(this.server);
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** Where the last automatically chosen port is kept, so jobs holding the old URL still reach us after a restart. */
  private get portFile(): string {
    return path.join(this.opts.dataHome, 'server', 'last-port');
  }

  /**
   * Starts the server if a job may still upload to it (credentials minted earlier, unexpired), so a
   * reloaded window keeps accepting a running job's results.
   */
  async resumeIfNeeded(): Promise<LocalServer | undefined> {
    return (await this.credentials()).hasLiveJobCredentials() ? this.ensureStarted() : undefined;
  }

  private async start(): Promise<LocalServer> {
    const settings = this.opts.settings();
    const credentials = await this.credentials();
    const { history, log } = this.opts;
    // Port 0 means "any": prefer the one we had before (jobs were given URLs with it), else any free one.
    const previous = settings.port === 0 ? Number(await fs.readFile(this.portFile, 'utf8').catch(() => '0')) : 0;
    // The server's code (S3 endpoint, webhooks) is evaluated when it first starts, not at activation.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startLocalServer } = require('./index') as typeof import('./index');
    const listen = (port: number): Promise<LocalServer> => startLocalServer({
      host: settings.host, port, storageDir: settings.storageDir, storagePath: settings.storagePath, stateDir: path.join(this.opts.dataHome, 'server'), credentials, log,
      onObjectStored: (e) => {
        if (history) void linkStoredObjectToJob(history, settings.storageDir, e).catch((err) => log?.(`could not link ${e.key} to its job: ${(err as Error).message}`));
      },
      webhooks: {
        getSecret: (provider) => this.opts.webhookSecret(provider),
        handler: async (provider, payload) => {
          if (!this.webhookHandler) throw new Error('no webhook handler registered yet');
          await this.webhookHandler(provider, payload);
        },
      },
    });
    let server: LocalServer;
    if (previous > 0 && previous < 65536) {
      server = await listen(previous).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EADDRINUSE' && e.code !== 'EACCES') throw e;
        log?.(`port ${previous} is taken; picking another (jobs given the old URL cannot reach this one)`);
        return listen(0);
      });
    } else server = await listen(settings.port);
    if (settings.port === 0) {
      await fs.mkdir(path.dirname(this.portFile), { recursive: true });
      await fs.writeFile(this.portFile, String(server.port));
    }
    this.server = server;
    this.settingsInUse = settings;
    return server;
  }

  /** Applies changed settings: a running server is restarted on the new address/folder. */
  async settingsChanged(): Promise<void> {
    if (!this.server && !this.starting) return;
    const next = this.opts.settings();
    const cur = this.settingsInUse;
    if (cur && cur.host === next.host && cur.port === next.port && cur.storageDir === next.storageDir && cur.storagePath === next.storagePath) return;
    await this.stop();
    await this.ensureStarted();
  }

  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    const s = this.server;
    this.server = undefined;
    await s?.close();
  }

  dispose(): void {
    void this.stop();
  }
}
