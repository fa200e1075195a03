/**
 * A real OpenSSH server for tests: Debian's /usr/sbin/sshd on 127.0.0.1, a free port, a throwaway
 * host key, a generated user key and its own authorized_keys / known_hosts, all in a temp folder.
 *
 *   const sshd = await startSshd();
 *   ... connect to sshd.host:sshd.port as sshd.user with sshd.userKeyPath, trusting sshd.knownHostsPath ...
 *   await sshd.stop();
 *
 * The login user is the one running the tests (root in CI), so "remote" folders are ordinary temp
 * folders on this machine and tests may inspect them directly. Sessions get `binDir` (inside the temp
 * folder) first on their PATH through the server's `SetEnv`, so a test can drop fake tools there —
 * our tests put a fake `nvidia-smi` in it (there is no GPU on the CI machine).
 *
 * Needs the apt package `openssh-server` (for /usr/sbin/sshd and ssh-keygen).
 */
import { execFile, spawn, ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const SSHD_BINARY = '/usr/sbin/sshd';

export interface SshdOptions {
  /** Extra sshd_config lines (e.g. a Subsystem, MaxSessions). */
  extraConfig?: string[];
  /** Extra environment for every session (added to SetEnv, after PATH). */
  env?: Record<string, string>;
  /** Generate the user key with this passphrase (default: none). */
  userKeyPassphrase?: string;
  /** Serve this host key (an OpenSSH private key file) instead of a fresh one: a cloud-init-injected key. */
  hostKeyPath?: string;
}

export interface SshdFixture {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Temp folder holding everything below; removed by stop(). */
  readonly dir: string;
  /** Private key (OpenSSH format) authorised for `user`. */
  readonly userKeyPath: string;
  readonly userKeyPassphrase?: string;
  /** known_hosts trusting the current host key as `[127.0.0.1]:port`. */
  readonly knownHostsPath: string;
  /** Folder first on the PATH of every session: put fake tools here. */
  readonly binDir: string;
  /** A scratch folder for tests to use as the "remote" side. */
  readonly remoteDir: string;
  /** The host key's public line ("ssh-ed25519 AAAA...") currently served. */
  hostPublicKey(): string;
  /** The host key's OpenSSH fingerprint ("SHA256:..."). */
  hostFingerprint(): Promise<string>;
  /** Generate a new host key and restart the server on the same port (simulates a reinstalled host / MITM). */
  swapHostKey(): Promise<void>;
  /** Write an executable script into binDir. */
  addTool(name: string, script: string): Promise<string>;
  /** Arguments for the OpenSSH client (`ssh`/`rsync -e`) that reach this server with the test key. */
  sshArgs(): string[];
  stop(): Promise<void>;
}

export async function startSshd(options: SshdOptions = {}): Promise<SshdFixture> {
  await fs.access(SSHD_BINARY).catch(() => {
    throw new Error(`${SSHD_BINARY} not found: install the apt package openssh-server`);
  });
  // Privilege separation needs this folder (normally created by the service unit).
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 }).catch(() => {});

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-sshd-'));
  const binDir = path.join(dir, 'bin');
  const remoteDir = path.join(dir, 'remote');
  await fs.mkdir(binDir);
  await fs.mkdir(remoteDir);
  const hostKeyPath = path.join(dir, 'host_ed25519');
  const userKeyPath = path.join(dir, 'user_ed25519');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  const knownHostsPath = path.join(dir, 'known_hosts');
  const configPath = path.join(dir, 'sshd_config');
  const user = os.userInfo().username;

  if (options.hostKeyPath) {
    await fs.copyFile(options.hostKeyPath, hostKeyPath);
    await fs.chmod(hostKeyPath, 0o600);
    const { stdout } = await run('ssh-keygen', ['-y', '-f', hostKeyPath]);
    await fs.writeFile(`${hostKeyPath}.pub`, stdout);
  } else {
    await keygen(hostKeyPath, '');
  }
  await keygen(userKeyPath, options.userKeyPassphrase ?? '');
  await fs.copyFile(`${userKeyPath}.pub`, authorizedKeys);

  const port = await freePort();
  const sessionPath = `${binDir}:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin`;
  const setEnv = [`PATH=${sessionPath}`, ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)]
    .map((kv) => `"${kv.replace(/"/g, '\\"')}"`).join(' ');
  await fs.writeFile(configPath, [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKeyPath}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitUserEnvironment no',
    `SetEnv ${setEnv}`,
    'Subsystem sftp internal-sftp',
    'MaxSessions 32',
    'MaxStartups 64:30:128',
    'LogLevel ERROR',
    ...(options.extraConfig ?? []),
    '',
  ].join('\n'));

  let hostLine = (await fs.readFile(`${hostKeyPath}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  const writeKnownHosts = () => fs.writeFile(knownHostsPath, `[127.0.0.1]:${port} ${hostLine}\n`);
  await writeKnownHosts();

  let proc: ChildProcess | undefined = await launch(configPath, port);
  // A crashed test run must not leave a listening sshd behind.
  const onExit = () => { proc?.kill('SIGKILL'); };
  process.once('exit', onExit);

  const fixture: SshdFixture = {
    host: '127.0.0.1',
    port,
    user,
    dir,
    userKeyPath,
    userKeyPassphrase: options.userKeyPassphrase,
    knownHostsPath,
    binDir,
    remoteDir,
    hostPublicKey: () => hostLine,
    async hostFingerprint() {
      const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKeyPath}.pub`]);
      return stdout.split(/\s+/)[1]!;
    },
    async swapHostKey() {
      await stopProc(proc);
      await fs.rm(hostKeyPath, { force: true });
      await fs.rm(`${hostKeyPath}.pub`, { force: true });
      await keygen(hostKeyPath, '');
      hostLine = (await fs.readFile(`${hostKeyPath}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
      // known_hosts deliberately keeps the OLD key: that is the point of the swap.
      proc = await launch(configPath, port);
    },
    async addTool(name, script) {
      const p = path.join(binDir, name);
      await fs.writeFile(p, script, { mode: 0o755 });
      return p;
    },
    sshArgs: () => [
      '-p', String(port), '-i', userKeyPath,
      '-o', `UserKnownHostsFile=${knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes',
      '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-F', '/dev/null',
    ],
    async stop() {
      process.removeListener('exit', onExit);
      await stopProc(proc);
      proc = undefined;
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

async function keygen(file: string, passphrase: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'cloud-training-test', '-f', file]);
}

async function launch(configPath: string, port: number): Promise<ChildProcess> {
  const child = spawn(SSHD_BINARY, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`sshd exited (${code}): ${stderr}`))));
  exited.catch(() => {});
  // Ready once the port accepts and sends the SSH banner.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) await exited;
    if (await bannerOk(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sshd did not start on port ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

function bannerOk(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.once('data', (d) => done(d.toString().startsWith('SSH-')));
    s.once('error', () => done(false));
  });
}

async function stopProc(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
