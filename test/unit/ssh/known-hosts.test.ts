import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  appendKnownHost, fingerprintSha256, hashHostName, keyTypeOf, parseKnownHosts, verifyHostKey, verifyHostKeyAgainst,
} from '../../../src/core/ssh/known-hosts';

/** Real keys from ssh-keygen, so blobs and fingerprints are checked against OpenSSH itself. */
function makeKey(dir: string, name: string): { line: string; blob: Buffer; fp: string } {
  const f = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
  const line = execFileSync('cat', [`${f}.pub`], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { line, blob: Buffer.from(line.split(' ')[1]!, 'base64'), fp };
}

describe('known_hosts', () => {
  let dir: string;
  before(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-kh-')); });
  after(async () => { await fs.rm(dir, { recursive: true, force: true }); });

  it('fingerprints like ssh-keygen and reads the key type from the blob', () => {
    const k = makeKey(dir, 'k1');
    assert.equal(fingerprintSha256(k.blob), k.fp);
    assert.equal(keyTypeOf(k.blob), 'ssh-ed25519');
  });

  it('trusts plain, wildcard and hashed entries; unknown elsewhere; CHANGED on a different key of the same type', async () => {
    const k = makeKey(dir, 'k2');
    const other = makeKey(dir, 'k3');
    const file = path.join(dir, 'known_hosts');
    await fs.writeFile(file, `# comment\nplain.example,10.0.0.1 ${k.line}\n*.lab.example,!bad.lab.example ${k.line}\n[127.0.0.1]:2222 ${k.line}\n`);
    // Hash an entry with OpenSSH itself.
    const hashed = path.join(dir, 'hashed_hosts');
    await fs.writeFile(hashed, `secret.example ${k.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', hashed], { stdio: 'ignore' });
    const hashedText = await fs.readFile(hashed, 'utf8');
    assert.match(hashedText, /^\|1\|/);

    const files = [file, hashed];
    assert.equal((await verifyHostKey(files, 'plain.example', 22, k.blob)).kind, 'trusted');
    assert.equal((await verifyHostKey(files, 'gpu.lab.example', 22, k.blob)).kind, 'trusted');
    assert.equal((await verifyHostKey(files, 'bad.lab.example', 22, k.blob)).kind, 'unknown');
    assert.equal((await verifyHostKey(files, '127.0.0.1', 2222, k.blob)).kind, 'trusted');
    assert.equal((await verifyHostKey(files, '127.0.0.1', 22, k.blob)).kind, 'unknown', 'port is part of the name');
    assert.equal((await verifyHostKey(files, 'secret.example', 22, k.blob)).kind, 'trusted');

    const changed = await verifyHostKey(files, 'secret.example', 22, other.blob);
    assert.equal(changed.kind, 'changed');
    if (changed.kind === 'changed') {
      assert.equal(changed.fingerprint, other.fp);
      assert.equal(changed.knownAt[0]?.fingerprint, k.fp);
    }
    const unknown = await verifyHostKey(files, 'new.example', 22, other.blob);
    assert.deepEqual(unknown, { kind: 'unknown', keyType: 'ssh-ed25519', fingerprint: other.fp, otherKeyTypes: [] });
    assert.equal((await verifyHostKey([path.join(dir, 'missing')], 'x', 22, k.blob)).kind, 'unknown');
  });

  it('honours @revoked and ignores @cert-authority for trust', () => {
    const k = makeKey(dir, 'k4');
    const entries = parseKnownHosts(`@revoked * ${k.line}\n@cert-authority *.example ${k.line}\nhost.example ${k.line}\n@weird x ${k.line}\n`);
    assert.equal(entries.length, 3);
    assert.equal(verifyHostKeyAgainst(entries, 'host.example', 22, k.blob).kind, 'revoked');
    const ca = parseKnownHosts(`@cert-authority *.example ${k.line}\n`);
    assert.equal(verifyHostKeyAgainst(ca, 'a.example', 22, k.blob).kind, 'unknown');
  });

  it('appends accepted keys (plain or hashed) that OpenSSH can find again', async () => {
    const k = makeKey(dir, 'k5');
    const file = path.join(dir, 'sub', 'kh');
    await appendKnownHost(file, '127.0.0.1', 2200, k.blob);
    await appendKnownHost(file, 'hashed.example', 22, k.blob, { hash: true });
    const text = await fs.readFile(file, 'utf8');
    assert.equal(text.split('\n')[0], `[127.0.0.1]:2200 ${k.line}`);
    assert.equal((await verifyHostKey([file], 'hashed.example', 22, k.blob)).kind, 'trusted');
    // ssh-keygen -F finds both entries.
    assert.match(execFileSync('ssh-keygen', ['-F', 'hashed.example', '-f', file], { encoding: 'utf8' }), /Host hashed.example found/);
    assert.match(execFileSync('ssh-keygen', ['-F', '[127.0.0.1]:2200', '-f', file], { encoding: 'utf8' }), /found/);
    assert.match(hashHostName('x', Buffer.alloc(20)), /^\|1\|AAAAAAAAAAAAAAAAAAAAAAAAAAA=\|/);
  });
});
