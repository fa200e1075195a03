import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import { writeFileAtomic } from '../../core/fs/atomic';
import { S3Error, accessDenied } from './errors';

/**
 * Who may use the storage endpoint: credentials the user configured (full access, or scoped) and
 * ephemeral per-job credentials minted at submission, limited to one bucket and key prefix and
 * expiring. Minted ones are kept in memory and in a 0600 file (never in the job history), so a
 * restarted VS Code still accepts the upload of a job that is running.
 */

export const StoredCredentialSchema = z.object({
  accessKeyId: z.string().regex(/^[A-Za-z0-9+/=._-]{3,128}$/),
  secretAccessKey: z.string().min(8),
  /** Only this bucket (all buckets when absent). */
  bucket: z.string().optional(),
  /** Only keys starting with this (normalised to end in `/`). */
  prefix: z.string().optional(),
  /** ISO time after which requests are refused with ExpiredToken. */
  expiresAt: z.string().optional(),
  jobId: z.string().optional(),
  /** Reads only (GET/HEAD): what a trainer gets to read a job's datasets, since its input is visible in the provider's account. */
  readOnly: z.boolean().optional(),
});
export type StoredCredential = z.infer<typeof StoredCredentialSchema>;

const CredentialFileSchema = z.object({ version: z.literal(1), credentials: z.array(StoredCredentialSchema) });

export interface MintedCredentials { accessKeyId: string; secretAccessKey: string; expiresAt: string; bucket: string; prefix: string }

export interface MintRequest { jobId: string; bucket: string; prefix: string; ttlSeconds: number; readOnly?: boolean }

export function normalisePrefix(prefix: string | undefined): string {
  const p = (prefix ?? '').replace(/^\/+/, '');
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function newAccessKeyId(): string {
  return `CTJ${[...randomBytes(17)].map((b) => ID_ALPHABET[b & 31]).join('')}`;
}

export class CredentialStore {
  private readonly minted = new Map<string, StoredCredential>();
  private readonly configured = new Map<string, StoredCredential>();
  private persistChain: Promise<void> = Promise.resolve();

  /** `file` is where minted credentials persist (0600); omit it to keep them in memory only. */
  constructor(private readonly file?: string, private readonly now: () => number = Date.now) {}

  /** A store holding the minted credentials persisted in `file`, minus the expired ones. */
  static async open(file: string, now: () => number = Date.now): Promise<CredentialStore> {
    const store = new CredentialStore(file, now);
    let text: string | undefined;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text !== undefined) {
      const parsed = CredentialFileSchema.safeParse(safeJson(text));
      // A damaged file loses only the uploads of running jobs; it must not stop the server starting.
      if (parsed.success) for (const c of parsed.data.credentials) if (!store.isExpired(c)) store.minted.set(c.accessKeyId, c);
    }
    return store;
  }

  /** Replaces the user-configured credentials (from SecretStorage or the CLI's environment). */
  setConfigured(creds: StoredCredential[]): void {
    this.configured.clear();
    for (const c of creds) {
      const parsed = StoredCredentialSchema.parse(c);
      this.configured.set(parsed.accessKeyId, { ...parsed, prefix: parsed.prefix === undefined ? undefined : normalisePrefix(parsed.prefix) });
    }
  }

  async mintJobCredentials(req: MintRequest): Promise<MintedCredentials> {
    if (!(req.ttlSeconds > 0)) throw new Error('ttlSeconds must be positive');
    const cred: StoredCredential = {
      accessKeyId: newAccessKeyId(),
      secretAccessKey: randomBytes(30).toString('base64url'),
      bucket: req.bucket,
      prefix: normalisePrefix(req.prefix),
      expiresAt: new Date(this.now() + req.ttlSeconds * 1000).toISOString(),
      jobId: req.jobId,
      ...(req.readOnly ? { readOnly: true } : {}),
    };
    this.minted.set(cred.accessKeyId, cred);
    await this.persist();
    return { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, expiresAt: cred.expiresAt!, bucket: req.bucket, prefix: cred.prefix! };
  }

  /** Forgets every credential minted for the job (e.g. once it finished and outputs are in). */
  async revokeJob(jobId: string): Promise<void> {
    for (const [id, c] of this.minted) if (c.jobId === jobId) this.minted.delete(id);
    await this.persist();
  }

  lookup(accessKeyId: string): StoredCredential | undefined {
    return this.configured.get(accessKeyId) ?? this.minted.get(accessKeyId);
  }

  /** Whether some job may still upload (an unexpired minted credential exists). */
  hasLiveJobCredentials(): boolean {
    return [...this.minted.values()].some((c) => !this.isExpired(c));
  }

  isExpired(c: StoredCredential): boolean {
    return c.expiresAt !== undefined && Date.parse(c.expiresAt) <= this.now();
  }

  /** Resolves once every write so far reached the disk. */
  flush(): Promise<void> {
    return this.persistChain;
  }

  private persist(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    this.persistChain = this.persistChain.catch(() => {}).then(async () => {
      for (const [id, c] of this.minted) if (this.isExpired(c)) this.minted.delete(id);
      await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      await writeFileAtomic(file, JSON.stringify({ version: 1, credentials: [...this.minted.values()] }, null, 2));
      await fs.chmod(file, 0o600);
    });
    return this.persistChain;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Where minted credentials persist under the data home. */
export const credentialFile = (dataHome: string): string => path.join(dataHome, 'server', 'storage-credentials.json');

/** What a request wants to touch, for the scope check. */
export type Access =
  | { op: 'listBuckets' }
  | { op: 'bucket'; bucket: string; write: boolean }
  | { op: 'list'; bucket: string; prefix: string }
  | { op: 'object'; bucket: string; key: string };

/** Throws AccessDenied when `cred` may not do `access`. Expiry is checked separately (ExpiredToken). */
export function authorize(cred: StoredCredential, access: Access): void {
  if (access.op === 'listBuckets') return;
  if (cred.bucket !== undefined && cred.bucket !== access.bucket) throw accessDenied();
  const prefix = cred.prefix ?? '';
  switch (access.op) {
    case 'bucket':
      // Scoped credentials may look at their bucket but not create or delete buckets.
      if (access.write && (cred.bucket !== undefined || prefix !== '')) throw accessDenied();
      return;
    case 'list':
      if (!access.prefix.startsWith(prefix)) {
        // `aws s3 ls s3://b/jobs/abc` lists prefix "jobs/abc" for credentials scoped to "jobs/abc/".
        if (!(prefix.endsWith('/') && access.prefix === prefix.slice(0, -1))) throw accessDenied();
      }
      return;
    case 'object':
      if (!access.key.startsWith(prefix)) throw accessDenied();
      return;
  }
}

/** A read-only credential may only read (GET, HEAD): every write, delete or multipart call is AccessDenied. */
export function authorizeMethod(cred: StoredCredential, method: string): void {
  if (cred.readOnly && method !== 'GET' && method !== 'HEAD') throw accessDenied('This access key is read-only.');
}

export function checkNotExpired(store: CredentialStore, cred: StoredCredential): void {
  if (store.isExpired(cred)) throw new S3Error('ExpiredToken', 'The provided token has expired.', 400);
}
