import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../fs/atomic';
import { appendKnownHost } from '../ssh/known-hosts';

/**
 * SSH keys for rented machines: the user's own key, or an ed25519 pair generated here (private
 * half 0600 in the data folder, in OpenSSH format so both ssh2 — src/providers/ssh/connection.ts
 * parses identity files with `utils.parseKey` — and the system `ssh` read it). DigitalOcean also
 * gets a host key generated here and injected through cloud-init, so the first connection is
 * verified against known_hosts instead of trusted on first use.
 */

export interface KeyPair { privateKey: string; publicKey: string }

/** A new ed25519 pair: `privateKey` in "openssh-key-v1" format (unencrypted), `publicKey` one line. */
export function generateEd25519(comment = 'cloud-training'): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const pubBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  // Pad to the cipher block size (8 for "none") with 1, 2, 3, … (PROTOCOL.key).
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'), sshString('none'), sshString(Buffer.alloc(0)),
    u32(1), sshString(pubBlob), sshString(priv),
  ]);
  const b64 = body.toString('base64').replace(/.{1,70}/g, '$&\n');
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${pubBlob.toString('base64')} ${comment}`,
  };
}

function u32(n: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; }
function sshString(s: string | Buffer): Buffer { const b = typeof s === 'string' ? Buffer.from(s) : s; return Buffer.concat([u32(b.length), b]); }

export interface LeaseKey { privateKeyPath: string; publicKey: string; generated: boolean }

/**
 * The key rented machines are reached with: `existing` (a private key path whose `.pub` sits beside
 * it) when the user chose one, else the pair in `dir` (created once).
 */
export async function ensureLeaseKey(dir: string, existing?: string): Promise<LeaseKey> {
  if (existing) {
    const publicKey = (await fs.readFile(`${existing}.pub`, 'utf8')).trim();
    return { privateKeyPath: existing, publicKey, generated: false };
  }
  const privateKeyPath = path.join(dir, 'id_ed25519');
  try {
    const publicKey = (await fs.readFile(`${privateKeyPath}.pub`, 'utf8')).trim();
    await fs.access(privateKeyPath);
    return { privateKeyPath, publicKey, generated: false };
  } catch { /* create below */ }
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const kp = generateEd25519('cloud-training');
  await writeFileAtomic(privateKeyPath, kp.privateKey); // writeFileAtomic creates files 0600
  await fs.chmod(privateKeyPath, 0o600);
  await writeFileAtomic(`${privateKeyPath}.pub`, kp.publicKey + '\n');
  return { privateKeyPath, publicKey: kp.publicKey, generated: true };
}

/** `#cloud-config` that installs `hostKey` as the machine's ed25519 host key (cloud-init `ssh_keys`). */
export function cloudInitWithHostKey(hostKey: KeyPair): string {
  const indented = hostKey.privateKey.trimEnd().split('\n').map((l) => `    ${l}`).join('\n');
  return [
    '#cloud-config',
    'ssh_deletekeys: true',
    'ssh_genkeytypes: []',
    'ssh_keys:',
    '  ed25519_private: |',
    indented,
    `  ed25519_public: ${hostKey.publicKey}`,
    '',
  ].join('\n');
}

/** Trust exactly the injected host key for host:port in our known_hosts (read by the SSH provider). */
export async function trustHostKey(knownHostsFile: string, host: string, port: number, publicKeyLine: string): Promise<void> {
  const blob = Buffer.from(publicKeyLine.trim().split(/\s+/)[1]!, 'base64');
  await appendKnownHost(knownHostsFile, host, port, blob);
}
