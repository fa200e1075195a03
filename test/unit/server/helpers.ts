import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, createHmac } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import type { SignatureV4 } from '@smithy/signature-v4';
import { CredentialStore, LocalServer, StoredEvent, startLocalServer } from '../../../src/server/index';
import type { WebhookRoutes } from '../../../src/server/webhooks';

// The SDK warns once per process that future versions need Node 22; it is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface TestServer {
  server: LocalServer;
  dir: string;
  storageDir: string;
  credentials: CredentialStore;
  stored: StoredEvent[];
  admin: { accessKeyId: string; secretAccessKey: string };
  client(creds?: { accessKeyId: string; secretAccessKey: string }, extra?: Record<string, unknown>): S3Client;
  dispose(): Promise<void>;
}

export const ADMIN = { accessKeyId: 'TESTADMINKEY', secretAccessKey: 'test-admin-secret-0123456789' };

export async function startTestServer(opts: {
  webhooks?: WebhookRoutes; now?: () => number; storagePath?: string; idleTimeoutMs?: number; maxObjectBytes?: number;
} = {}): Promise<TestServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-s3-'));
  const storageDir = path.join(dir, 'storage');
  const credentials = await CredentialStore.open(path.join(dir, 'home', 'server', 'creds.json'), opts.now);
  credentials.setConfigured([ADMIN]);
  const stored: StoredEvent[] = [];
  const server = await startLocalServer({
    storageDir, credentials, webhooks: opts.webhooks, onObjectStored: (e) => stored.push(e),
    storagePath: opts.storagePath, idleTimeoutMs: opts.idleTimeoutMs, maxObjectBytes: opts.maxObjectBytes,
  });
  const clients: S3Client[] = [];
  return {
    server, dir, storageDir, credentials, stored, admin: ADMIN,
    client(creds = ADMIN, extra = {}) {
      const c = new S3Client({ endpoint: server.storageEndpoint, region: 'us-east-1', forcePathStyle: true, credentials: creds, maxAttempts: 1, ...extra });
      clients.push(c);
      return c;
    },
    async dispose() {
      for (const c of clients) c.destroy();
      await server.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** The hash constructor the SDK's SigV4 signer wants: SHA-256, or HMAC-SHA256 when given a key. */
class NodeSha256 {
  private h;
  constructor(secret?: string | Uint8Array) {
    this.h = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(d: string | Uint8Array): void {
    this.h.update(d);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {}
}
export const Sha256 = NodeSha256 as unknown as ConstructorParameters<typeof SignatureV4>[0]['sha256'];
