import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { SshConnection, HostKeyChangedError, HostKeyRejectedError, type SshTarget } from '../../../src/providers/ssh/connection';
import type { Prompter } from '../../../src/core/providers/types';

/** Records what a provider asked; answers from a script. */
class ScriptedPrompter implements Prompter {
  confirms: Array<{ message: string; detail?: string }> = [];
  secrets: string[] = [];
  constructor(private readonly answers: { confirm?: boolean; secret?: string }) {}
  async confirm(message: string, detail?: string): Promise<boolean> {
    this.confirms.push({ message, detail });
    return this.answers.confirm ?? false;
  }
  async secret(prompt: string): Promise<string | undefined> {
    this.secrets.push(prompt);
    return this.answers.secret;
  }
}

function targetOf(sshd: SshdFixture, over: Partial<SshTarget> = {}): SshTarget {
  return {
    label: 'test-host', host: sshd.host, port: sshd.port, user: sshd.user,
    identityFiles: [sshd.userKeyPath], agent: false, knownHostsFiles: [sshd.knownHostsPath], ...over,
  };
}

describe('ssh connection (real sshd)', function () {
  this.timeout(30_000);
  let sshd: SshdFixture;
  before(async () => { sshd = await startSshd(); });
  after(async () => { await sshd?.stop(); });

  it('connects with key auth and runs commands', async () => {
    const conn = await SshConnection.connect(targetOf(sshd));
    try {
      const r = await conn.exec('echo hello; echo oops >&2; exit 3');
      assert.equal(r.stdout, 'hello\n');
      assert.equal(r.stderr, 'oops\n');
      assert.equal(r.code, 3);
      assert.equal((await conn.run('whoami')).trim(), sshd.user);
    } finally {
      conn.dispose();
    }
  });

  it('asks on an unknown host key: declined → no connection, accepted → appended to known_hosts', async () => {
    const kh = `${sshd.dir}/empty_known_hosts`;
    await fs.writeFile(kh, '');
    const fp = await sshd.hostFingerprint();

    const no = new ScriptedPrompter({ confirm: false });
    await assert.rejects(SshConnection.connect(targetOf(sshd, { knownHostsFiles: [kh] }), { prompter: no }), HostKeyRejectedError);
    assert.equal(no.confirms.length, 1);
    assert.match(no.confirms[0]!.detail!, new RegExp(fp.replace(/[+/]/g, '\\$&')));
    assert.equal(await fs.readFile(kh, 'utf8'), '', 'declined key must not be recorded');

    // Without a prompter an unknown host is refused outright.
    await assert.rejects(SshConnection.connect(targetOf(sshd, { knownHostsFiles: [kh] })), HostKeyRejectedError);

    const yes = new ScriptedPrompter({ confirm: true });
    const conn = await SshConnection.connect(targetOf(sshd, { knownHostsFiles: [kh] }), { prompter: yes });
    conn.dispose();
    assert.equal(yes.confirms.length, 1);
    const recorded = await fs.readFile(kh, 'utf8');
    assert.equal(recorded.trim(), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey()}`);

    // Now trusted: no question asked.
    const again = new ScriptedPrompter({ confirm: false });
    (await SshConnection.connect(targetOf(sshd, { knownHostsFiles: [kh] }), { prompter: again })).dispose();
    assert.equal(again.confirms.length, 0);
  });

  it('asks for the passphrase of an encrypted key and never for a password', async () => {
    const locked = await startSshd({ userKeyPassphrase: 'correct horse' });
    try {
      const p = new ScriptedPrompter({ secret: 'correct horse' });
      const conn = await SshConnection.connect(targetOf(locked, { label: 'locked' }), { prompter: p });
      assert.equal((await conn.run('echo ok')).trim(), 'ok');
      conn.dispose();
      assert.equal(p.secrets.length, 1);
      assert.match(p.secrets[0]!, /Passphrase/);
      const wrong = new ScriptedPrompter({ secret: 'nope' });
      await assert.rejects(SshConnection.connect(targetOf(locked, { label: 'locked' }), { prompter: wrong }), /Authentication/);
      assert.equal(wrong.secrets.length, 3, 'asks again a bounded number of times');
    } finally {
      await locked.stop();
    }
  });

  it('refuses a CHANGED host key loudly, even when a prompter would say yes', async () => {
    const other = await startSshd();
    try {
      await other.swapHostKey();
      const p = new ScriptedPrompter({ confirm: true });
      const err = await SshConnection.connect(targetOf(other, { knownHostsFiles: [other.knownHostsPath] }), { prompter: p }).then(
        () => assert.fail('connected despite a changed key'),
        (e: Error) => e,
      );
      assert.ok(err instanceof HostKeyChangedError);
      assert.match(err.message, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
      assert.match(err.message, new RegExp((await other.hostFingerprint()).replace(/[+/]/g, '\\$&')));
      assert.equal(p.confirms.length, 0, 'a changed key is never offered for trust');
      // known_hosts untouched
      assert.doesNotMatch(await fs.readFile(other.knownHostsPath, 'utf8'), new RegExp(other.hostPublicKey().split(' ')[1]!.replace(/[+/]/g, '\\$&')));
    } finally {
      await other.stop();
    }
  });

  it('goes through a ProxyJump hop (the test sshd forwarding to itself), verifying both host keys', async () => {
    const hop = targetOf(sshd, { label: 'bastion' });
    const conn = await SshConnection.connect(targetOf(sshd, { label: 'behind-bastion', proxyJump: [hop] }));
    try {
      // The session's client address is the hop's forwarded connection, still a real login.
      assert.equal((await conn.run('echo via-jump')).trim(), 'via-jump');
    } finally {
      conn.dispose();
    }
  });

  it('aborts a running command through its signal', async () => {
    const conn = await SshConnection.connect(targetOf(sshd));
    try {
      const ac = new AbortController();
      const t0 = Date.now();
      setTimeout(() => ac.abort(new Error('stop')), 300);
      await assert.rejects(conn.exec('sleep 20', { signal: ac.signal }), /stop/);
      assert.ok(Date.now() - t0 < 5000);
      assert.equal((await conn.run('echo still-usable')).trim(), 'still-usable');
    } finally {
      conn.dispose();
    }
  });
});
