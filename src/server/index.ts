import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CredentialStore } from './s3/credentials';
import { createS3Handler } from './s3/handler';
import { HashPool } from './s3/hash-offload';
import { ObjectStore, StoredEvent } from './s3/store';
import path from 'node:path';
import { WebhookRoutes, createWebhookRoute, replayFile } from './webhooks';
import { API_BUCKET, SERVER_ROUTES, STORAGE_PATH, WEBHOOK_PATH, normaliseStoragePath } from './paths';

export { CredentialStore, credentialFile } from './s3/credentials';
export type { MintedCredentials, StoredCredential } from './s3/credentials';
export type { StoredEvent } from './s3/store';
export { verifyWebhookSignature, signWebhook } from './webhooks';
export type { WebhookRoutes } from './webhooks';

export { STORAGE_PATH, WEBHOOK_PATH, normaliseStoragePath } from './paths';

export interface LocalServerOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Folder the S3 buckets live in (e.g. ~/.simpletuner/cloud_outputs). */
  storageDir: string;
  credentials: CredentialStore;
  webhooks?: WebhookRoutes;
  /** Folder for the server's own small state (accepted webhook ids); default `<storageDir>/.cloudtrain`. */
  stateDir?: string;
  /** Called when an object is complete and visible (single PUT or completed multipart upload). */
  onObjectStored?: (e: StoredEvent) => void;
  log?: (line: string) => void;
  /**
   * Where the S3 API is mounted: `/api/cloud/storage` (default) or `/` — the root, for path-style
   * clients that take the first path segment as the bucket and cannot sign for an endpoint under a
   * path (s3cmd). At the root, `/api/cloud/…` still belongs to the webhooks and health check, so the
   * bucket name `api` is refused there.
   */
  storagePath?: string;
  /** A request body idle this long is answered `RequestTimeout` and closed (default 20 s, as S3). */
  idleTimeoutMs?: number;
  /** Largest object body taken (default 5 GiB, S3's limit); lower only in tests. */
  maxObjectBytes?: number;
}

export interface LocalServer {
  /** http://host:port */
  url: string;
  port: number;
  /** The S3 endpoint URL to hand to clients (`--endpoint-url`). */
  storageEndpoint: string;
  close(): Promise<void>;
}

/**
 * The extension's local HTTP server: S3-compatible storage at /api/cloud/storage and webhook
 * receivers at /api/cloud/webhooks/{provider}. Binds 127.0.0.1 unless told otherwise.
 */
export async function startLocalServer(opts: LocalServerOptions): Promise<LocalServer> {
  const basePath = normaliseStoragePath(opts.storagePath ?? STORAGE_PATH);
  const atRoot = basePath === '';
  const store = new ObjectStore(opts.storageDir);
  await store.init();
  // A host without shared memory (none is known, but an Electron process could be built so) hashes inline.
  const hashPool = typeof SharedArrayBuffer === 'function' ? new HashPool() : undefined;
  const s3 = createS3Handler({
    hashPool, store, credentials: opts.credentials, basePath, onObjectStored: opts.onObjectStored, log: opts.log, idleTimeoutMs: opts.idleTimeoutMs,
    maxObjectBytes: opts.maxObjectBytes, reservedBuckets: atRoot ? [API_BUCKET] : [],
  });
  const stateDir = opts.stateDir ?? path.join(opts.storageDir, '.cloudtrain');
  const webhook = opts.webhooks ? createWebhookRoute(opts.webhooks, opts.log, replayFile(stateDir), opts.idleTimeoutMs) : undefined;
  // At the root everything is S3 except the server's own `/api/cloud/…` (S3 then refuses the bucket `api` as reserved).
  const isStorage = (p: string): boolean => (atRoot ? p !== SERVER_ROUTES && !p.startsWith(`${SERVER_ROUTES}/`) : p === basePath || p.startsWith(`${basePath}/`));

  const onRequest: http.RequestListener = (req, res) => {
    const url = req.url ?? '/';
    const pathOnly = url.split('?')[0]!;
    const fail = (e: unknown): void => {
      opts.log?.(`request failed: ${(e as Error)?.message ?? String(e)}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    };
    if (isStorage(pathOnly)) {
      s3(req, res).catch(fail);
    } else if (pathOnly.startsWith(`${WEBHOOK_PATH}/`) && webhook) {
      webhook(req, res, decodeURIComponentSafe(pathOnly.slice(WEBHOOK_PATH.length + 1))).catch(fail);
    } else if (pathOnly === '/api/cloud/health') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json', Connection: 'close' }).end('{"error":"not found"}');
    }
  };
  const server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 }, onRequest);
  // `Expect: 100-continue` (awscli/botocore PUTs): the handlers send 100 only after authorising, so a
  // refused upload is answered before its body is sent.
  server.on('checkContinue', onRequest);

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  opts.log?.(`local server listening on ${url}`);
  return {
    url,
    port,
    storageEndpoint: `${url}${basePath}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await hashPool?.close();
      await webhook?.flush();
    },
  };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '';
  }
}
