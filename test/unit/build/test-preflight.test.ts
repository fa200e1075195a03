import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { aptCommands, decide, parsePackageList, PACKAGE_LIST, SKIP_VAR } from '../../../scripts/test-preflight.cjs';
import { tempDir } from '../../support/tmp';

const root = path.resolve(__dirname, '../../..');
const SCRIPT = path.join(root, 'scripts/test-preflight.cjs');
const LIST = parsePackageList(readFileSync(PACKAGE_LIST, 'utf8'));
const isRoot = process.getuid?.() === 0;

/**
 * The `npm test` preflight (issue 16 §3): the decision from the facts, and the real script run with a
 * fake `dpkg-query` / `apt-get` / `sudo` first on its PATH, so nothing on this machine is installed
 * or removed.
 */
describe('npm test preflight: Debian packages', () => {
  it('reads one list, shared with .ci/run, holding what the suite runs', () => {
    assert.deepEqual(parsePackageList('a b  # x y\n\n# only a comment\nc\ta\n'), ['a', 'b', 'c']);
    for (const p of ['openssh-server', 'slurm-wlm', 'munge', 'awscli', 'chromium', 'tmux', 's3cmd', 'python3-boto3']) assert.ok(LIST.includes(p), p);
    const ci = readFileSync(path.join(root, '.ci/run'), 'utf8');
    assert.match(ci, /scripts\/debian-packages\.txt/);
    assert.doesNotMatch(ci, /need=\(/, '.ci/run must not keep its own list');
    for (const line of ci.split('\n').filter((l) => /\bapt-get (update|install)\b/.test(l))) assert.match(line, /-o DPkg::Lock::Timeout=\d+/, line);
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { test: string } };
    assert.match(pkg.scripts.test, /^node scripts\/test-preflight\.cjs && /, 'npm test checks first');
  });

  it('decides: skip, ok, install as root or through sudo -n, else stop with the one line to run', () => {
    const packages = ['slurm-wlm', 'munge', 's3cmd'];
    const some = new Set(['munge']);
    const noSudo = () => { throw new Error('sudo must not be asked'); };
    assert.deepEqual(decide({ packages, installed: some, env: { [SKIP_VAR]: '1' }, isRoot: false, canSudo: noSudo }), { kind: 'skip' });
    assert.deepEqual(decide({ packages, installed: new Set(packages), env: {}, isRoot: false, canSudo: noSudo }), { kind: 'ok' });
    assert.deepEqual(decide({ packages, installed: some, env: {}, isRoot: true, canSudo: noSudo }), { kind: 'install', viaSudo: false, missing: ['slurm-wlm', 's3cmd'] });
    assert.deepEqual(decide({ packages, installed: some, env: { [SKIP_VAR]: '0' }, isRoot: false, canSudo: () => true }), { kind: 'install', viaSudo: true, missing: ['slurm-wlm', 's3cmd'] });
    const stop = decide({ packages, installed: some, env: {}, isRoot: false, canSudo: () => false });
    assert.equal(stop.kind, 'stop');
    assert.ok(stop.kind === 'stop' && stop.message.includes('\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends slurm-wlm s3cmd\n'), JSON.stringify(stop));
    const noDpkg = decide({ packages, installed: null, env: {}, isRoot: true, canSudo: noSudo });
    assert.ok(noDpkg.kind === 'stop' && /no dpkg/.test(noDpkg.message) && noDpkg.message.includes(`${SKIP_VAR}=1`));
    assert.deepEqual(aptCommands(['tmux'], true), [
      ['sudo', '-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-o', 'DPkg::Lock::Timeout=300'],
      ['sudo', '-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=300', 'tmux'],
    ]);
  });

  describe('the script with fake dpkg-query, apt-get and sudo on its PATH', () => {
    let t: ReturnType<typeof tempDir>;
    let bin: string;
    const state = () => path.join(t.dir, 'installed');
    const calls = () => path.join(t.dir, 'calls');

    beforeEach(async () => {
      t = tempDir();
      bin = path.join(t.dir, 'bin');
      await fs.mkdir(bin);
      // The script runs from a copy beside the fakes: run as nobody, it could not read a checkout that
      // sits under a private folder (a clone in a `mktemp -d` folder is 0700).
      await fs.mkdir(path.join(t.dir, 'scripts'));
      for (const f of [SCRIPT, PACKAGE_LIST]) await fs.copyFile(f, path.join(t.dir, 'scripts', path.basename(f)));
      // dpkg-query -W -f=FMT pkg…: "name<TAB>ii " for names in the state file; unknown ones go to stderr, exit 1.
      await tool('dpkg-query', `shift 2; rc=0; for p in "$@"; do if grep -qx "$p" "${state()}"; then printf '%s\\tii \\n' "$p"; else echo "dpkg-query: no packages found matching $p" >&2; rc=1; fi; done; exit $rc`);
      // apt-get install … pkgs: records the call and "installs" the names (unless told to fail).
      await tool('apt-get', `echo "apt-get $*" >> "${calls()}"; [ -e "${t.dir}/apt-fails" ] && exit 100; if [ "$1" = install ]; then for a in "$@"; do case "$a" in -*|install|DPkg*) ;; *) echo "$a" >> "${state()}";; esac; done; fi; exit 0`);
      // sudo -n …: records the call; runs the rest (or refuses, as with a password prompt).
      await tool('sudo', `echo "sudo $*" >> "${calls()}"; [ -e "${t.dir}/sudo-asks" ] && exit 1; shift; exec "$@"`);
    });
    afterEach(() => t.cleanup());

    async function tool(name: string, body: string): Promise<void> {
      await fs.writeFile(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    }
    /** Run the script (as `uid`, e.g. nobody, to see the non-root path on a root CI box); fresh call log. */
    async function run(env: NodeJS.ProcessEnv = {}, uid?: number): Promise<{ code: number | null; err: string; calls: string[] }> {
      await fs.rm(calls(), { force: true });
      if (uid !== undefined) {
        // The fake tools run as that user: they must reach and write the temp folder.
        await fs.chmod(t.dir, 0o777);
        await fs.writeFile(calls(), '', { mode: 0o666 });
        await fs.chmod(calls(), 0o666);
        await fs.chmod(state(), 0o666);
      }
      const r = spawnSync(process.execPath, [path.join(t.dir, 'scripts', path.basename(SCRIPT))], { env: { PATH: `${bin}:/usr/bin:/bin`, ...env }, encoding: 'utf8', timeout: 30_000, ...(uid !== undefined ? { uid, gid: uid } : {}) });
      let log = '';
      try { log = readFileSync(calls(), 'utf8'); } catch { /* no calls */ }
      return { code: r.status, err: r.stderr, calls: log.split('\n').filter(Boolean) };
    }
    /** As whom to run: this user, and also `nobody` when we are root (so both paths run on CI). */
    const users: Array<number | undefined> = isRoot ? [undefined, 65534] : [undefined];
    const rootRun = (uid: number | undefined) => isRoot && uid === undefined;
    const install = (missing: string) => `apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 ${missing}`;

    it('installs only what is missing (update, then install, both waiting for the dpkg lock) and passes', async () => {
      for (const uid of users) {
        await fs.writeFile(state(), `${LIST.filter((p) => p !== 's3cmd' && p !== 'tmux').join('\n')}\n`);
        const r = await run({}, uid);
        assert.equal(r.code, 0, r.err);
        const apt = r.calls.filter((c) => c.startsWith('apt-get'));
        assert.deepEqual(apt, ['apt-get update -o DPkg::Lock::Timeout=300', install('s3cmd tmux')]);
        // Root runs apt-get itself; anyone else through `sudo -n` (checked with `sudo -n true` first).
        if (rootRun(uid)) assert.ok(!r.calls.some((c) => c.startsWith('sudo')), r.calls.join('\n'));
        else {
          assert.deepEqual(r.calls.filter((c) => c.startsWith('sudo')), [
            'sudo -n true',
            'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -o DPkg::Lock::Timeout=300',
            `sudo -n env DEBIAN_FRONTEND=noninteractive ${install('s3cmd tmux')}`,
          ]);
        }
      }
    });

    it('does nothing when every package is there, or when told to skip', async () => {
      await fs.writeFile(state(), `${LIST.join('\n')}\n`);
      assert.deepEqual(await run(), { code: 0, err: '', calls: [] });
      await fs.writeFile(state(), '');
      assert.deepEqual(await run({ [SKIP_VAR]: '1' }), { code: 0, err: '', calls: [] });
    });

    it('stops at once with the apt-get line to run when the install fails (or, not root, sudo asks for a password)', async () => {
      await fs.writeFile(state(), `${LIST.filter((p) => p !== 'slurm-wlm' && p !== 'munge').join('\n')}\n`);
      await fs.writeFile(path.join(t.dir, 'apt-fails'), '');
      await fs.writeFile(path.join(t.dir, 'sudo-asks'), '');
      for (const uid of users) {
        const r = await run({}, uid);
        assert.equal(r.code, 1);
        assert.ok(r.err.includes('\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends slurm-wlm munge\n'), r.err);
        assert.match(r.err, new RegExp(`${SKIP_VAR}=1`));
        assert.ok(r.err.trim().split('\n').length <= 7, `one short message, not a dozen failures: ${r.err}`);
        // Root tried apt-get (which failed); a normal user never got past sudo -n.
        if (rootRun(uid)) assert.deepEqual(r.calls, ['apt-get update -o DPkg::Lock::Timeout=300']);
        else assert.deepEqual(r.calls, ['sudo -n true']);
      }
    });
  });
});
