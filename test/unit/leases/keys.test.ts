import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { utils } from 'ssh2';
import { cloudInitWithHostKey, ensureLeaseKey, generateEd25519, trustHostKey } from '../../../src/core/leases/ssh-keys';
import { parseKnownHosts, verifyHostKeyAgainst } from '../../../src/core/ssh/known-hosts';
import { tempDir } from '../../support/tmp';

const run = promisify(execFile);

describe('leases: SSH keys', () => {
  let tmp: { dir: string; cleanup: () => void };
  beforeEach(() => { tmp = tempDir('ct-lease-k-'); });
  afterEach(() => tmp.cleanup());

  it('generates an ed25519 pair that OpenSSH and ssh2 both read, private half 0600, created once', async () => {
    const k = await ensureLeaseKey(path.join(tmp.dir, 'keys'));
    assert.equal(k.generated, true);
    assert.equal((await fs.stat(k.privateKeyPath)).mode & 0o777, 0o600);
    const { stdout } = await run('ssh-keygen', ['-y', '-f', k.privateKeyPath]);
    assert.equal(stdout.trim().split(' ').slice(0, 2).join(' '), k.publicKey.split(' ').slice(0, 2).join(' '));
    const parsed = utils.parseKey(await fs.readFile(k.privateKeyPath));
    assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed) && parsed.type === 'ssh-ed25519');
    const again = await ensureLeaseKey(path.join(tmp.dir, 'keys'));
    assert.equal(again.generated, false);
    assert.equal(again.publicKey, k.publicKey);
  });

  it('uses an existing key when given one', async () => {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(tmp.dir, 'mine')]);
    const k = await ensureLeaseKey(path.join(tmp.dir, 'keys'), path.join(tmp.dir, 'mine'));
    assert.equal(k.generated, false);
    assert.equal(k.privateKeyPath, path.join(tmp.dir, 'mine'));
    await assert.rejects(fs.access(path.join(tmp.dir, 'keys', 'id_ed25519')));
  });

  it('cloud-init user data carries the host key; known_hosts then trusts exactly that key', async () => {
    const hk = generateEd25519('host');
    const ud = cloudInitWithHostKey(hk);
    assert.ok(ud.startsWith('#cloud-config\n'));
    assert.ok(ud.includes('  ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----'));
    const kh = path.join(tmp.dir, 'known_hosts');
    await trustHostKey(kh, '203.0.113.7', 22, hk.publicKey);
    const entries = parseKnownHosts(await fs.readFile(kh, 'utf8'));
    const blob = Buffer.from(hk.publicKey.split(' ')[1]!, 'base64');
    assert.equal(verifyHostKeyAgainst(entries, '203.0.113.7', 22, blob).kind, 'trusted');
    const other = Buffer.from(generateEd25519().publicKey.split(' ')[1]!, 'base64');
    assert.equal(verifyHostKeyAgainst(entries, '203.0.113.7', 22, other).kind, 'changed');
  });
});
