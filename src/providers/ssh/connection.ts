import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { AnyAuthMethod, AuthenticationType, Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';

import { loadVendor } from '../../vendor/load';

/** ssh2 and its crypto (~330 KB) live in their own file (src/vendor/load.ts), loaded with the first connection. */
const ssh2 = () => loadVendor<typeof import('../../vendor/ssh2')>('ssh2');
import {
  appendKnownHost, changedKeyMessage, knownHostName, verifyHostKey, type HostKeyVerdict,
} from '../../core/ssh/known-hosts';
import type { Prompter } from '../../core/providers/types';
import { openSshRoute, type OpenSshRoute } from './openssh';
import { recycleChunk } from './tar-stream';

/** Everything needed to reach one host. Built from ~/.ssh/config + settings (see hosts.ts). */
export interface SshTarget {
  /** Shown in messages and prompts (the Host alias). */
  label: string;
  host: string;
  port: number;
  user: string;
  /** Private key files to try, in order, after the agent. */
  identityFiles: string[];
  /** Agent socket; default $SSH_AUTH_SOCK. `false` disables the agent. */
  agent?: string | false;
  /** known_hosts files to check; accepted keys are appended to the first. */
  knownHostsFiles: string[];
  /** Hops to go through first (ProxyJump), outermost first. */
  proxyJump?: SshTarget[];
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
}

export interface ConnectOptions {
  /** Asked to trust an unknown host key and for key passphrases. Without one, unknown hosts are refused. */
  prompter?: Prompter;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface ExecOptions {
  signal?: AbortSignal;
  /** Input for the command; a stream is piped (and its end closes the command's stdin). */
  stdin?: string | Buffer | NodeJS.ReadableStream;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export interface ExecResult { stdout: string; stderr: string; code: number | null; signal?: string }
export interface ExecBufferResult { stdout: Buffer; stderr: string; code: number | null; signal?: string }

/** Thrown for a refused host key (changed or revoked): callers must surface it loudly, never retry silently. */
export class HostKeyChangedError extends Error {
  readonly code = 'HOST_KEY_CHANGED';
}
export class HostKeyRejectedError extends Error {
  readonly code = 'HOST_KEY_REJECTED';
}

/**
 * One verified SSH connection (ssh2 client): host key checked against known_hosts before anything is
 * sent, agent or key-file auth (passphrases asked through the Prompter and kept only for the handshake),
 * exec with cancellation, one shared SFTP session. Used by the SSH and Slurm providers.
 */
export class SshConnection {
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private closedFlag = false;
  private readonly closeListeners = new Set<() => void>();

  private systemSsh: { route: OpenSshRoute | undefined } | undefined;

  /** `hostKey`: the key the host presented and known_hosts vouched for (pins the system ssh client to it). */
  private constructor(readonly target: SshTarget, private readonly client: Client, private readonly hops: SshConnection[], private readonly hostKey?: Buffer) {
    client.on('close', () => {
      this.closedFlag = true;
      for (const l of this.closeListeners) l();
    });
    client.on('error', () => {
      /* surfaced through close + the failing call */
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  onClose(listener: () => void): { dispose(): void } {
    this.closeListeners.add(listener);
    return { dispose: () => this.closeListeners.delete(listener) };
  }

  static async connect(target: SshTarget, opts: ConnectOptions = {}): Promise<SshConnection> {
    const hops: SshConnection[] = [];
    try {
      let sock: Duplex | undefined;
      for (const hop of target.proxyJump ?? []) {
        const prev = hops[hops.length - 1];
        const conn = await SshConnection.connectOne({ ...hop, proxyJump: [] }, opts, prev ? await prev.forward(hop.host, hop.port) : undefined, []);
        hops.push(conn);
      }
      const last = hops[hops.length - 1];
      if (last) sock = await last.forward(target.host, target.port);
      return await SshConnection.connectOne(target, opts, sock, hops);
    } catch (e) {
      for (const h of hops.reverse()) h.dispose();
      throw e;
    }
  }

  /** Connect once; on an unknown key ask, append it and connect again (so no handshake waits on a human). */
  private static async connectOne(target: SshTarget, opts: ConnectOptions, sock: Duplex | undefined, hops: SshConnection[]): Promise<SshConnection> {
    const first = await SshConnection.attempt(target, opts, sock, hops);
    if (first.conn) return first.conn;
    const v = first.verdict;
    if (v?.kind !== 'unknown') throw first.error;
    if (!opts.prompter) {
      throw new HostKeyRejectedError(`The host key of ${target.label} (${knownHostName(target.host, target.port)}) is not known: ${v.keyType} ${v.fingerprint}. Connect once interactively to trust it.`);
    }
    const other = v.otherKeyTypes.length ? `\nWARNING: known_hosts has ${v.otherKeyTypes.join(', ')} key(s) for this host but it offered ${v.keyType}.` : '';
    const ok = await opts.prompter.confirm(
      `Trust the SSH host ${target.label} (${knownHostName(target.host, target.port)})?`,
      `The authenticity of this host can't be established.\n${v.keyType} key fingerprint is ${v.fingerprint}.${other}\nCompare it with the fingerprint shown on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). Accepting adds it to ${target.knownHostsFiles[0] ?? 'known_hosts'}.`,
    );
    if (!ok) throw new HostKeyRejectedError(`Host key of ${target.label} not trusted (${v.fingerprint}); not connecting.`);
    const file = target.knownHostsFiles[0];
    if (!file) throw new Error('No known_hosts file to record the accepted key in');
    await appendKnownHost(file, target.host, target.port, first.key!);
    opts.log?.(`Added ${knownHostName(target.host, target.port)} (${v.fingerprint}) to ${file}`);
    // The first socket is gone; through a jump host we need a fresh forwarded stream.
    const sock2 = hops.length ? await hops[hops.length - 1]!.forward(target.host, target.port) : undefined;
    const second = await SshConnection.attempt(target, opts, sock2, hops);
    if (second.conn) return second.conn;
    throw second.error;
  }

  private static attempt(target: SshTarget, opts: ConnectOptions, sock: Duplex | undefined, hops: SshConnection[]):
  Promise<{ conn?: SshConnection; verdict?: HostKeyVerdict; key?: Buffer; error: Error }> {
    return new Promise((resolve) => {
      opts.signal?.throwIfAborted();
      const client = new (ssh2().Client)();
      let verdict: HostKeyVerdict | undefined;
      let presented: Buffer | undefined;
      let settled = false;
      const finish = (r: { conn?: SshConnection; error: Error }) => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
        if (!r.conn) client.end();
        resolve({ ...r, verdict, key: presented });
      };
      const onAbort = () => finish({ error: new Error('Connection cancelled') });
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      const agentSock = target.agent === false ? undefined : (target.agent || process.env.SSH_AUTH_SOCK || undefined);
      const cfg: ConnectConfig = {
        host: target.host,
        port: target.port,
        username: target.user,
        sock: sock as ConnectConfig['sock'],
        readyTimeout: target.readyTimeoutMs ?? 20_000,
        keepaliveInterval: target.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 4,
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
          presented = Buffer.from(key);
          verifyHostKey(target.knownHostsFiles, target.host, target.port, presented).then((v) => {
            verdict = v;
            verify(v.kind === 'trusted');
          }, (e: Error) => {
            opts.log?.(`known_hosts could not be read: ${e.message}`);
            verify(false);
          });
        },
        authHandler: makeAuthHandler(target, agentSock, opts) as unknown as ConnectConfig['authHandler'],
      };
      client.once('ready', () => finish({ error: new Error('unused'), conn: new SshConnection(target, client, hops, presented) }));
      client.on('error', (e: Error) => {
        if (verdict && verdict.kind === 'changed') return finish({ error: new HostKeyChangedError(changedKeyMessage(target.host, target.port, verdict)) });
        if (verdict && verdict.kind === 'revoked') return finish({ error: new HostKeyChangedError(changedKeyMessage(target.host, target.port, verdict)) });
        if (verdict && verdict.kind === 'unknown') return finish({ error: e });
        const level = (e as { level?: string }).level;
        const why = level === 'client-authentication'
          ? `Authentication to ${target.user}@${target.label} failed (tried ${describeAuth(target, agentSock)}).`
          : `Cannot connect to ${target.label} (${target.host}:${target.port}): ${e.message}`;
        finish({ error: new Error(why) });
      });
      client.once('close', () => finish({ error: new Error(`Connection to ${target.label} closed during the handshake`) }));
      try {
        client.connect(cfg);
        batchSocketWrites((client as unknown as { _sock?: unknown })._sock);
      } catch (e) {
        finish({ error: e as Error });
      }
    });
  }

  /** A TCP stream to host:port opened from this host (for ProxyJump). */
  forward(host: string, port: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      this.client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => (err ? reject(err) : resolve(stream)));
    });
  }

  /** Run a command; stdout decoded as UTF-8. Aborting closes the channel (the remote shell gets SIGHUP). */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.execBuffer(command, opts);
    return { ...r, stdout: r.stdout.toString('utf8') };
  }

  execBuffer(command: string, opts: ExecOptions = {}): Promise<ExecBufferResult> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(opts.signal.reason ?? new Error('Aborted'));
      if (this.closedFlag) return reject(new Error(`Connection to ${this.target.label} is closed`));
      this.client.exec(command, (err, ch: ClientChannel) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        let code: number | null = null;
        let sig: string | undefined;
        const onAbort = () => {
          ch.close();
          reject(opts.signal?.reason ?? new Error('Aborted'));
        };
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        ch.on('data', (d: Buffer) => {
          out.push(d);
          opts.onStdout?.(d);
        });
        ch.stderr.on('data', (d: Buffer) => {
          errs.push(d);
          opts.onStderr?.(d);
        });
        ch.on('exit', (c: number | null, s?: string) => {
          code = c;
          sig = s ?? undefined;
        });
        ch.on('close', () => {
          opts.signal?.removeEventListener('abort', onAbort);
          resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(errs).toString('utf8'), code, signal: sig });
        });
        if (opts.stdin === undefined) ch.end();
        else if (typeof opts.stdin === 'string' || Buffer.isBuffer(opts.stdin)) ch.end(opts.stdin);
        else this.pipeCorked(opts.stdin, ch);
      });
    });
  }

  /**
   * Pipe a stream into a channel with the socket corked around each chunk: ssh2 writes every 32 KiB
   * packet to the socket separately, and batching a chunk's packets into one writev saves a syscall
   * (and a wakeup of the server) per packet on bulk uploads.
   */
  private pipeCorked(source: NodeJS.ReadableStream, ch: ClientChannel): void {
    const sock = (this.client as unknown as { _sock?: { cork?(): void; uncork?(): void } })._sock;
    source.on('data', (chunk: Buffer) => {
      sock?.cork?.();
      const more = ch.write(chunk, () => recycleChunk(source, chunk));
      process.nextTick(() => sock?.uncork?.());
      if (!more) {
        source.pause();
        ch.once('drain', () => source.resume());
      }
    });
    source.once('end', () => ch.end());
    source.once('error', () => ch.close());
    ch.once('close', () => (source as { destroy?: () => void }).destroy?.());
  }

  /** exec, throwing with stderr when the exit code is not 0. */
  async run(command: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) throw new Error(`Remote command failed (exit ${r.code ?? r.signal}): ${r.stderr.trim() || r.stdout.trim() || command.slice(0, 80)}`);
    return r.stdout;
  }

  /** The connection's SFTP session (opened once, shared by parallel transfers). */
  sftp(): Promise<SFTPWrapper> {
    if (!this.sftpSession) {
      this.sftpSession = new Promise<SFTPWrapper>((resolve, reject) => {
        this.client.sftp((err, s) => (err ? reject(err) : resolve(s)));
      });
      this.sftpSession.catch(() => { this.sftpSession = undefined; });
    }
    return this.sftpSession;
  }

  /**
   * The system ssh client to the same host, for bulk transfers (see openssh.ts); undefined where it
   * cannot apply (jump hosts). Whether it can log in shows on first use (`route.usable`).
   */
  openSsh(log?: (line: string) => void): OpenSshRoute | undefined {
    this.systemSsh ??= { route: openSshRoute(this.target, this.hostKey, { log }) };
    return this.systemSsh.route;
  }

  /** Close this connection and any jump hosts it went through. */
  dispose(): void {
    void this.systemSsh?.route?.dispose();
    this.client.end();
    for (const h of this.hops) h.dispose();
  }

  /** For tests: sever the transport without a clean goodbye (simulates a network drop). */
  destroyTransport(): void {
    (this.client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
  }
}

/**
 * Without its native helpers (which cannot ship in a cross-platform extension) ssh2 writes every
 * packet as 3-4 separate socket writes (length, ciphertext, tag). With Nagle's algorithm on, the
 * later pieces wait for the peer's delayed ACK: ~40 ms per request/response, so opening SFTP took
 * 150 ms instead of 5. So: no Nagle, and writes made in one tick leave together in one writev.
 */
function batchSocketWrites(sock: unknown): void {
  if (!(sock instanceof net.Socket)) return; // a jump host's forwarded channel: not a TCP socket
  sock.setNoDelay(true);
  const write = sock.write;
  let corked = false;
  sock.write = function (this: net.Socket, ...args: unknown[]) {
    if (!corked) {
      corked = true;
      this.cork();
      process.nextTick(() => { corked = false; this.uncork(); });
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof sock.write;
}

function describeAuth(target: SshTarget, agent: string | undefined): string {
  const parts = [...(agent ? ['the SSH agent'] : []), ...target.identityFiles.map((f) => f.replace(os.homedir(), '~'))];
  return parts.length ? parts.join(', ') : 'no keys: add an IdentityFile or start ssh-agent';
}

/** agent first, then each key file (asking for a passphrase when the file is encrypted). Passwords are never used. */
function makeAuthHandler(target: SshTarget, agent: string | undefined, opts: ConnectOptions) {
  const queue: Array<() => Promise<AnyAuthMethod | undefined>> = [];
  if (agent) queue.push(async () => ({ type: 'agent', username: target.user, agent }));
  for (const file of target.identityFiles) {
    queue.push(async () => {
      let data: Buffer;
      try {
        data = await fs.readFile(file);
      } catch {
        return undefined; // missing default key: skip quietly, like ssh
      }
      let parsed = ssh2().utils.parseKey(data);
      for (let tries = 0; parsed instanceof Error && /passphrase|encrypted/i.test(parsed.message) && tries < 3; tries++) {
        if (!opts.prompter) {
          opts.log?.(`${file} is passphrase-protected and nothing can ask for the passphrase; skipping it`);
          return undefined;
        }
        const pass = await opts.prompter.secret(`Passphrase for ${path.basename(file)} (${target.label})${tries ? ' — try again' : ''}`);
        if (pass === undefined) return undefined;
        parsed = ssh2().utils.parseKey(data, pass); // the passphrase lives only in this call
      }
      if (parsed instanceof Error) {
        opts.log?.(`Skipping ${file}: ${parsed.message}`);
        return undefined;
      }
      const key = Array.isArray(parsed) ? parsed[0] : parsed;
      return key ? { type: 'publickey', username: target.user, key } : undefined;
    });
  }
  return (methodsLeft: AuthenticationType[], _partial: boolean, next: (m: AnyAuthMethod | false) => void) => {
    const step = async (): Promise<void> => {
      for (;;) {
        const make = queue.shift();
        if (!make) return next(false);
        const m = await make().catch(() => undefined);
        if (!m) continue;
        if (methodsLeft && !methodsLeft.includes('publickey')) return next(false);
        return next(m);
      }
    };
    void step();
  };
}
