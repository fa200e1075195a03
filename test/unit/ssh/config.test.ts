import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSshDestination } from '../../../src/core/ssh/destination';
import { loadSshConfig, parseLine, parseProxyJump } from '../../../src/core/ssh/config';
import { listHostChoices, resolveSshTarget } from '../../../src/providers/ssh/hosts';

describe('ssh config parser', () => {
  let home: string;
  beforeEach(async () => {
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-sshcfg-'));
    await fs.mkdir(path.join(home, '.ssh', 'conf.d'), { recursive: true });
  });
  afterEach(async () => { await fs.rm(home, { recursive: true, force: true }); });
  const write = (rel: string, text: string) => fs.writeFile(path.join(home, '.ssh', rel), text);
  const load = () => loadSshConfig(undefined, { home, localUser: 'me' });

  it('parses keyword=value, quotes and comments', () => {
    assert.deepEqual(parseLine('  HostName = example.com # trailing'), { key: 'hostname', args: ['example.com'] });
    assert.deepEqual(parseLine('IdentityFile "~/my keys/id_ed25519"'), { key: 'identityfile', args: ['~/my keys/id_ed25519'] });
    assert.equal(parseLine('# only a comment'), undefined);
    assert.deepEqual(parseProxyJump('alice@bastion:2222,ssh://[fe80::1]:22,plain'), [
      { user: 'alice', host: 'bastion', port: 2222 }, { user: undefined, host: 'fe80::1', port: 22 }, { user: undefined, host: 'plain', port: undefined },
    ]);
  });

  it('first value wins, IdentityFile accumulates, patterns and negation, tokens', async () => {
    await write('config', [
      'Host gpu1 gpu2',
      '  HostName %h.lab.example',
      '  User trainer',
      '  IdentityFile ~/.ssh/lab_%r',
      'Host gpu*  !gpu2',
      '  Port 2200',
      '  User ignored-because-first-wins',
      'Host *',
      '  IdentityFile ~/.ssh/id_ed25519',
      '  Port 22',
      '  UserKnownHostsFile ~/.ssh/kh_%h',
    ].join('\n'));
    const cfg = await load();
    const g1 = cfg.resolve('gpu1');
    assert.equal(g1.hostName, 'gpu1.lab.example');
    assert.equal(g1.user, 'trainer');
    assert.equal(g1.port, 2200);
    assert.deepEqual(g1.identityFiles, [path.join(home, '.ssh/lab_trainer'), path.join(home, '.ssh/id_ed25519')]);
    assert.deepEqual(g1.userKnownHostsFiles, [path.join(home, '.ssh/kh_gpu1.lab.example')]);
    const g2 = cfg.resolve('gpu2');
    assert.equal(g2.port, 22, 'negated pattern does not apply');
    const other = cfg.resolve('elsewhere');
    assert.equal(other.user, undefined);
    assert.equal(other.hostName, 'elsewhere');
    assert.deepEqual(cfg.hosts().map((h) => h.alias), ['gpu1', 'gpu2']);
  });

  it('honours Include at top level and inside a Host block, with globs and relative paths', async () => {
    await write('config', [
      'Include conf.d/*.conf',
      'Host boxed',
      '  Include inner.conf',
      '  Port 2022',
      'Host *',
      '  User fallback',
    ].join('\n'));
    await write('conf.d/10-lab.conf', 'Host lab\n  HostName 10.0.0.5\n  ProxyJump jump\nHost jump\n  HostName jump.example\n  User hop\n');
    await write('conf.d/20-ignored.txt', 'Host never\n');
    // Lines before any Host in an included file apply only inside the enclosing block.
    await write('inner.conf', 'User inner-user\nHostName boxed.example\n');
    const cfg = await load();
    assert.deepEqual(cfg.hosts().map((h) => h.alias), ['lab', 'jump', 'boxed']);
    const boxed = cfg.resolve('boxed');
    assert.equal(boxed.user, 'inner-user');
    assert.equal(boxed.hostName, 'boxed.example');
    assert.equal(boxed.port, 2022, 'the enclosing block resumes after the include');
    assert.equal(cfg.resolve('lab').user, 'fallback', 'an included file\'s Host block ends at the end of that file');
    assert.equal(cfg.resolve('other').user, 'fallback');
    assert.equal(cfg.resolve('other').hostName, 'other', 'inner.conf lines do not leak out of Host boxed');

    const t = await resolveSshTarget('lab', { config: cfg, home, localUser: 'me', agent: false });
    assert.equal(t.host, '10.0.0.5');
    assert.equal(t.proxyJump?.[0]?.host, 'jump.example');
    assert.equal(t.proxyJump?.[0]?.user, 'hop');
  });

  it('Match all applies; Match exec is never evaluated', async () => {
    await write('config', 'Match exec "true"\n  User from-exec\nMatch all\n  User from-all\n');
    assert.equal((await load()).resolve('x').user, 'from-all');
  });

  it('merges settings hosts (first) with config hosts for the picker', async () => {
    await write('config', 'Host a\n  HostName a.example\n  User u\n  Port 2201\nHost same\n');
    const choices = await listHostChoices({ home, localUser: 'me', settingsHosts: [{ name: 'same', host: '1.2.3.4', user: 'root', port: 22 }] });
    assert.deepEqual(choices.map((c) => [c.name, c.source, c.detail]), [['same', 'settings', 'root@1.2.3.4'], ['a', 'ssh-config', 'u@a.example:2201']]);
  });
});

describe('ssh destination parsing (Add SSH Host)', () => {
  it('accepts user@host, host:port, pasted ssh commands and ssh:// URLs', () => {
    assert.deepEqual(parseSshDestination('trainer@gpu.example.com'), { host: 'gpu.example.com', user: 'trainer', port: undefined, identityFile: undefined });
    assert.deepEqual(parseSshDestination('ssh -p 2222 -i ~/.ssh/lab -o StrictHostKeyChecking=yes root@10.0.0.5'), { host: '10.0.0.5', user: 'root', port: 2222, identityFile: '~/.ssh/lab' });
    assert.deepEqual(parseSshDestination('ssh://me@[::1]:2200'), { host: '::1', user: 'me', port: 2200, identityFile: undefined });
    assert.equal(parseSshDestination('box:22').port, 22);
    assert.throws(() => parseSshDestination(''), /destination/);
    assert.throws(() => parseSshDestination('a b'), /Unexpected/);
    assert.throws(() => parseSshDestination('host:99999'), /port/);
    assert.throws(() => parseSshDestination('bad;host'), /not a host/);
  });
});
