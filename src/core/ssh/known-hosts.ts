import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { matchPatternList } from './patterns';

/**
 * OpenSSH `known_hosts`: plain host lists (`host,host2`, `[host]:port`, wildcards, `!negation`),
 * hashed hosts (`|1|base64 salt|base64 HMAC-SHA1(salt, host)`), markers `@revoked` and
 * `@cert-authority` (CA lines are read but not used to trust anything: we do not verify certificates).
 */

export interface KnownHostEntry {
  marker?: 'revoked' | 'cert-authority';
  hashed?: { salt: Buffer; hash: Buffer };
  patterns?: string[];
  keyType: string;
  key: Buffer;
  file: string;
  line: number;
}

export type HostKeyVerdict =
  | { kind: 'trusted'; keyType: string; fingerprint: string; file: string; line: number }
  | { kind: 'unknown'; keyType: string; fingerprint: string; /** Key types already known for this host (a different algorithm was negotiated). */ otherKeyTypes: string[] }
  | { kind: 'changed'; keyType: string; fingerprint: string; knownAt: Array<{ file: string; line: number; fingerprint: string }> }
  | { kind: 'revoked'; keyType: string; fingerprint: string; file: string; line: number };

/** The name known_hosts uses: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port = 22): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:<base64 without padding>` like `ssh-keygen -l`. */
export function fingerprintSha256(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name at the start of an SSH public key blob (e.g. "ssh-ed25519"). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new Error('Host key blob too short');
  const len = blob.readUInt32BE(0);
  if (len > blob.length - 4 || len > 64) throw new Error('Malformed host key blob');
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function parseKnownHosts(text: string, file = '<text>'): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!.slice(1);
      if (m !== 'revoked' && m !== 'cert-authority') continue; // unknown marker: ignore the line like ssh does
      marker = m;
    }
    const [hostField, keyType, keyB64] = fields;
    if (!hostField || !keyType || !keyB64) continue;
    const key = Buffer.from(keyB64, 'base64');
    if (!key.length) continue;
    const entry: KnownHostEntry = { marker, keyType, key, file, line: i + 1 };
    if (hostField.startsWith('|1|')) {
      const [, , salt, hash] = hostField.split('|');
      if (!salt || !hash) continue;
      entry.hashed = { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      entry.patterns = hostField.split(',');
    }
    out.push(entry);
  }
  return out;
}

export function entryMatchesHost(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) {
    const h = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return h.length === entry.hashed.hash.length && timingSafeEqual(h, entry.hashed.hash);
  }
  return entry.patterns ? matchPatternList(name, entry.patterns) : false;
}

/** `|1|salt|hash` for `name`, as `ssh-keygen -H` writes it. */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

export async function readKnownHostsFiles(files: readonly string[]): Promise<KnownHostEntry[]> {
  const all: KnownHostEntry[] = [];
  for (const f of files) {
    try {
      all.push(...parseKnownHosts(await fs.readFile(f, 'utf8'), f));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return all;
}

/** Decide about the key a server presented. Pure: asking the user is the caller's business. */
export function verifyHostKeyAgainst(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const keyType = keyTypeOf(key);
  const fingerprint = fingerprintSha256(key);
  const name = knownHostName(host, port);
  // A revoked key is refused whatever host it is listed for.
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { kind: 'revoked', keyType, fingerprint, file: revoked.file, line: revoked.line };
  const forHost = entries.filter((e) => !e.marker && entryMatchesHost(e, name));
  const same = forHost.find((e) => e.key.equals(key));
  if (same) return { kind: 'trusted', keyType, fingerprint, file: same.file, line: same.line };
  const sameType = forHost.filter((e) => e.keyType === keyType);
  if (sameType.length) {
    return { kind: 'changed', keyType, fingerprint, knownAt: sameType.map((e) => ({ file: e.file, line: e.line, fingerprint: fingerprintSha256(e.key) })) };
  }
  return { kind: 'unknown', keyType, fingerprint, otherKeyTypes: [...new Set(forHost.map((e) => e.keyType))] };
}

export async function verifyHostKey(files: readonly string[], host: string, port: number, key: Buffer): Promise<HostKeyVerdict> {
  return verifyHostKeyAgainst(await readKnownHostsFiles(files), host, port, key);
}

/** Append an accepted key (creating ~/.ssh with 0700 and the file with 0600 if needed). */
export async function appendKnownHost(file: string, host: string, port: number, key: Buffer, opts: { hash?: boolean } = {}): Promise<void> {
  const name = knownHostName(host, port);
  const line = `${opts.hash ? hashHostName(name) : name} ${keyTypeOf(key)} ${key.toString('base64')}\n`;
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const existing = await fs.readFile(file, 'utf8');
    if (existing.length && !existing.endsWith('\n')) prefix = '\n';
  } catch {
    /* new file */
  }
  await fs.appendFile(file, prefix + line, { mode: 0o600 });
}

/** The message for a changed key: loud on purpose (this is what a man-in-the-middle looks like). */
export function changedKeyMessage(host: string, port: number, v: Extract<HostKeyVerdict, { kind: 'changed' | 'revoked' }>): string {
  const where = v.kind === 'changed'
    ? v.knownAt.map((k) => `${k.file}:${k.line} (${k.fingerprint})`).join(', ')
    : `${v.file}:${v.line} (marked @revoked)`;
  return [
    `REMOTE HOST IDENTIFICATION HAS ${v.kind === 'revoked' ? 'BEEN REVOKED' : 'CHANGED'} for ${knownHostName(host, port)} — connection refused.`,
    `The server presented a ${v.keyType} key with fingerprint ${v.fingerprint}, but known_hosts has ${where}.`,
    'Someone could be intercepting the connection, or the host was reinstalled. If you are sure the new key is right,',
    `remove the old entry (ssh-keygen -R '${knownHostName(host, port)}') and connect again.`,
  ].join('\n');
}
