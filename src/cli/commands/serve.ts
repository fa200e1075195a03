import path from 'node:path';
import { parseArgs } from 'node:util';
import { JobHistory } from '../../core/jobs/history';
import { dataLayout, expandHome } from '../../core/paths';
import { LocalServerController } from '../../server/controller';
import { STORAGE_PATH, normaliseStoragePath } from '../../server/paths';
import type { WebhookRoutes } from '../../server/webhooks';
import { UsageError, type CliIO } from '../io';
import { inScope, type ScopedIO } from '../scope';

export const DEFAULT_STORAGE_DIR = '~/.simpletuner/cloud_outputs';

export interface ServeDeps {
  /** Stops the server (tests); otherwise Ctrl-C/SIGTERM (the invocation's scope) do. */
  signal?: AbortSignal;
  /** Handles verified webhooks (the Replicate provider plugs its job update in here). */
  webhookHandler?: WebhookRoutes['handler'];
}

/**
 * `cloudtrain serve [--host 127.0.0.1] [--port N] [--storage DIR] [--path-prefix /api/cloud/storage]` —
 * the results endpoint and webhook receiver without VS Code. `--path-prefix /` mounts the S3 API at
 * the root for clients that take the first path segment as the bucket (s3cmd). Your own S3 credentials come from CLOUDTRAIN_S3_ACCESS_KEY_ID /
 * CLOUDTRAIN_S3_SECRET_ACCESS_KEY; webhook secrets from <PROVIDER>_WEBHOOK_SECRET (e.g.
 * REPLICATE_WEBHOOK_SECRET). Job credentials minted by submissions are shared with the extension.
 */
export function runServe(argv: string[], io: CliIO, deps: ServeDeps = {}): Promise<number> {
  return inScope(io, (scoped) => serve(argv, scoped, deps));
}

async function serve(argv: string[], io: ScopedIO, deps: ServeDeps): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: false, strict: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' }, storage: { type: 'string' },
      'path-prefix': { type: 'string', default: STORAGE_PATH },
    },
  });
  const usage = 'usage: cloudtrain serve [--host 127.0.0.1] [--port N] [--storage DIR] [--path-prefix /api/cloud/storage | /]';
  if (positionals.length) throw new UsageError(usage);
  const storagePath = values['path-prefix']!;
  try {
    normaliseStoragePath(storagePath);
  } catch (e) {
    throw new UsageError(`--path-prefix: ${(e as Error).message}\n${usage}`);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, not ${values.port}`);
  const storageDir = path.resolve(io.cwd, expandHome(values.storage ?? io.env.CLOUDTRAIN_STORAGE_DIR ?? DEFAULT_STORAGE_DIR));

  const layout = dataLayout(io.dataHome);
  const log = (line: string): void => void io.stderr.write(`${new Date().toISOString()} ${line}\n`);
  // The same controller as the extension: shared job credentials, and port 0 reuses the last port.
  const controller = new LocalServerController({
    dataHome: layout.home,
    settings: () => ({ host: values.host!, port, storageDir, storagePath }),
    webhookSecret: async (provider) => io.env[`${provider.toUpperCase().replace(/-/g, '_')}_WEBHOOK_SECRET`],
    history: new JobHistory(layout.historyDir, (w) => io.stderr.write(`warning: ${w.message}\n`)),
    log,
  });
  // Closed with the invocation on every path (a failed start, an error after it, Ctrl-C).
  io.scope.defer(() => controller.stop());
  const keyId = io.env.CLOUDTRAIN_S3_ACCESS_KEY_ID;
  const secret = io.env.CLOUDTRAIN_S3_SECRET_ACCESS_KEY;
  const credentials = await controller.credentials();
  if (keyId && secret) credentials.setConfigured([{ accessKeyId: keyId, secretAccessKey: secret }]);
  controller.setWebhookHandler(deps.webhookHandler ?? (async (provider, payload) => {
    const p = payload as { id?: unknown; status?: unknown };
    log(`webhook from ${provider}: ${String(p?.id ?? '?')} ${String(p?.status ?? '')}`);
  }));
  const server = await controller.ensureStarted();
  io.stdout.write(`Cloud Training server: ${server.url}\n`);
  io.stdout.write(`  S3 endpoint: ${server.storageEndpoint}  (storage: ${storageDir})\n`);
  if (normaliseStoragePath(storagePath) === '') io.stdout.write('  (S3 API at the root: path-style, first segment = bucket; the bucket name "api" is reserved)\n');
  io.stdout.write(`  webhooks:    ${server.url}/api/cloud/webhooks/<provider>\n`);
  if (!keyId || !secret) io.stdout.write('  (set CLOUDTRAIN_S3_ACCESS_KEY_ID / CLOUDTRAIN_S3_SECRET_ACCESS_KEY to use the endpoint yourself)\n');
  io.stdout.write('Press Ctrl+C to stop.\n');

  // Runs until Ctrl-C/SIGTERM (the scope's signal) or the caller's signal: that is its normal end (exit 0).
  const signals = [io.scope.signal, ...(deps.signal ? [deps.signal] : [])];
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      for (const s of signals) s.removeEventListener('abort', stop);
      resolve();
    };
    if (signals.some((s) => s.aborted)) stop();
    else for (const s of signals) s.addEventListener('abort', stop, { once: true });
  });
  await controller.stop();
  await credentials.flush();
  io.stdout.write('stopped\n');
  return 0;
}
