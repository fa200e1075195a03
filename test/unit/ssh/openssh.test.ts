import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { SshConnection, type SshTarget } from '../../../src/providers/ssh/connection';
import { openSshArgs, pinnedKnownHostsLine } from '../../../src/providers/ssh/openssh';
import { syncDirectory } from '../../../src/providers/ssh/sync';

function targetOf(sshd: SshdFixture, over: Partial<SshTarget> = {}): SshTarget {
  return {
    label: 'test-host', host: sshd.host, port: sshd.port, user: sshd.user,
    identityFiles: [sshd.userKeyPath], agent: false, knownHostsFiles: [sshd.knownHostsPath], ...over,
  };
}

async function dataset(dir: string): Promise<void> {
  await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
  for (let i = 0; i < 12; i++) await fs.writeFile(path.join(dir, i % 2 ? `sub/f${i}.bin` : `f${i}.bin`), Buffer.alloc(40_000 + i, i));
}

describe('bulk transfers through the system ssh client (real sshd)', function () {
  this.timeout(60_000);
  let tmp: string;
  beforeEach(async () => { tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-openssh-')); });
  afterEach(async () => { await fs.rm(tmp, { recursive: true, force: true }); });

  it('pins the host key our connection verified and never prompts', () => {
    const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 4]), Buffer.from('abcd')]);
    assert.equal(pinnedKnownHostsLine(blob), `cloud-training-verified-host ssh-ed25519 ${blob.toString('base64')}\n`);
    const args = openSshArgs({ label: 'x', host: 'gpu.example', port: 2222, user: 'me', identityFiles: ['/k/id'], agent: false, knownHostsFiles: [] }, '/tmp/kh');
    for (const o of ['BatchMode=yes', 'StrictHostKeyChecking=yes', 'UserKnownHostsFile=/tmp/kh', 'HostKeyAlias=cloud-training-verified-host', 'IdentityAgent=none']) assert.ok(args.includes(o), o);
    assert.deepEqual(args.slice(-2), ['--', 'gpu.example']);
  });

  it('syncs through ssh when it can log in with the same key, and leaves no temp known_hosts behind', async () => {
    const sshd = await startSshd();
    const conn = await SshConnection.connect(targetOf(sshd));
    try {
      const route = conn.openSsh();
      assert.ok(route?.usable);
      let out = '';
      let input = 0;
      const r = await route.exec(`sh -c 'echo "$(id -un):$((6*7))"; wc -c; echo err >&2; exit 4'`, {
        stdin: () => { input++; return Readable.from([Buffer.from('12345')]); },
        onStdout: (d) => { out += d; },
      });
      assert.deepEqual(r, { started: true, code: 4, stderr: 'err\n' }, 'system ssh should log in with the unencrypted test key');
      assert.equal(out.replace(/ +/g, ''), `${sshd.user}:42\n5\n`);
      assert.equal(input, 1);

      const local = path.join(tmp, 'ds');
      await dataset(local);
      const res = await syncDirectory(conn, local, path.join(sshd.remoteDir, 'via-ssh'), { cacheDir: path.join(tmp, 'cache'), transport: 'tar' });
      assert.equal(res.uploaded.length, 12);
      assert.equal(res.verified, 12);
      assert.ok(conn.openSsh()?.usable, 'the sync went through the system client');
      for (const f of res.uploaded) assert.ok((await fs.readFile(path.join(sshd.remoteDir, 'via-ssh', f))).equals(await fs.readFile(path.join(local, f))), f);
    } finally {
      conn.dispose();
      await sshd.stop();
    }
    await new Promise((r) => setTimeout(r, 100));
    const left = (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith('ct-ssh-'));
    for (const n of left) assert.ok(!(await fs.readFile(path.join(os.tmpdir(), n, 'known_hosts'), 'utf8').catch(() => '')).includes(sshd.hostPublicKey().split(' ')[1]!), 'temp known_hosts removed on dispose');
  });

  it('refuses a host whose key changed after our connection verified it (no silent trust), then falls back', async () => {
    const sshd = await startSshd();
    const conn = await SshConnection.connect(targetOf(sshd));
    try {
      await sshd.swapHostKey(); // the same address now presents a different key
      const logs: string[] = [];
      const route = conn.openSsh((l) => logs.push(l))!;
      let asked = false;
      const r = await route.exec('true', { stdin: () => { asked = true; return Readable.from([]); } });
      assert.equal(r.started, false);
      assert.equal(asked, false, 'no input is produced for a command that never started');
      assert.match(!r.started ? r.reason : '', /host key|identification/i);
      assert.equal(route.usable, false);
      assert.match(logs.join('\n'), /could not log in .* without a prompt/i);
    } finally {
      conn.dispose();
      await sshd.stop();
    }
  });

  it('falls back to the built-in client when the key needs a passphrase (never asked by ssh)', async () => {
    const sshd = await startSshd({ userKeyPassphrase: 'correct horse' });
    const conn = await SshConnection.connect(targetOf(sshd), { prompter: { confirm: async () => false, secret: async () => 'correct horse' } });
    try {
      const local = path.join(tmp, 'ds');
      await dataset(local);
      const logs: string[] = [];
      const res = await syncDirectory(conn, local, path.join(sshd.remoteDir, 'via-ssh2'), { cacheDir: path.join(tmp, 'cache'), transport: 'tar', log: (l) => logs.push(l) });
      assert.equal(res.verified, 12);
      assert.equal(conn.openSsh()?.usable, false);
      assert.match(logs.join('\n'), /using the built-in client/);
    } finally {
      conn.dispose();
      await sshd.stop();
    }
  });
});
