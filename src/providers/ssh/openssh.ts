import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { SshTarget } from './connection';
import { posix } from './remote-shell';
import { recycleChunk } from './tar-stream';

/**
 * Bulk transfers through the system OpenSSH client. ssh2 encrypts in JavaScript (its native helpers
 * cannot ship in a cross-platform extension), which made a first dataset sync about twice as slow as
 * `rsync`, itself running over `ssh`. The system client reaches the same host as the same user with
 * the same keys and agent, never prompts (BatchMode), and trusts exactly the host key our own
 * connection already verified against known_hosts (a one-line known_hosts of its own, pinned with
 * HostKeyAlias). There is no separate trial login (a login costs ~0.3 s): the command prints a
 * marker before it starts, and its input is produced only once the marker arrived. When ssh exits
 * without it (a passphrase-protected key that is not in an agent, a different host key, no `ssh`
 * installed), nothing was sent, and callers use the ssh2 connection instead.
 */

const ALIAS = 'cloud-training-verified-host';
const MARKER = 'cloud-training-ready';

export interface OpenSshInput {
  /** Made only once the command is running on the host (so a failed login never consumed it). */
  stdin?: () => Readable;
  onStdout?: (chunk: Buffer) => void;
}
export interface OpenSshExecOptions extends OpenSshInput { signal?: AbortSignal }

/** `started: false`: ssh could not log in or start the command; nothing was sent (see `reason`). */
export type OpenSshResult = { started: true; code: number | null; stderr: string } | { started: false; reason: string };

/**
 * A command being started on the host. Logging in takes a few hundred ms, so a sync starts it while
 * it is still working out what to send, then either feeds it (`run`) or drops it (`cancel`).
 */
export interface OpenSshSession {
  /** Feed the input and wait for the command to end (once). */
  run(input?: OpenSshInput): Promise<OpenSshResult>;
  /** Not needed after all: end it (the command sees end of input / hang-up). */
  cancel(): void;
}

export interface OpenSshRoute {
  /** false once a login failed on this route: later calls go straight to the fallback. */
  readonly usable: boolean;
  start(command: string, signal?: AbortSignal): OpenSshSession;
  exec(command: string, opts?: OpenSshExecOptions): Promise<OpenSshResult>;
  dispose(): Promise<void>;
}

/** The `ssh` arguments for `target`, with the host key pinned through `knownHostsFile`. */
export function openSshArgs(target: SshTarget, knownHostsFile: string): string[] {
  const args = [
    '-F', os.devNull, '-T', '-x', '-p', String(target.port), '-l', target.user,
    '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHostsFile}`,
    '-o', `GlobalKnownHostsFile=${os.devNull}`, '-o', `HostKeyAlias=${ALIAS}`, '-o', 'CheckHostIP=no', '-o', 'UpdateHostKeys=no',
    '-o', 'ControlMaster=no', '-o', 'ControlPath=none', '-o', 'ClearAllForwardings=yes', '-o', 'PermitLocalCommand=no',
    '-o', `ConnectTimeout=${Math.ceil((target.readyTimeoutMs ?? 20_000) / 1000)}`, '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4',
    '-o', 'LogLevel=ERROR',
    // AES-GCM first: hardware-accelerated on the CPUs that train models, about twice chacha20's speed.
    '-o', 'Ciphers=aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr',
  ];
  if (target.agent === false) args.push('-o', 'IdentityAgent=none');
  for (const f of target.identityFiles) args.push('-i', f);
  args.push('--', target.host);
  return args;
}

/** `<alias> <type> <base64>` for an SSH wire-format public key blob. */
export function pinnedKnownHostsLine(hostKey: Buffer): string {
  const len = hostKey.readUInt32BE(0);
  const type = hostKey.subarray(4, 4 + len).toString('latin1');
  if (!/^[a-z0-9@.-]+$/i.test(type)) throw new Error('unrecognised host key blob');
  return `${ALIAS} ${type} ${hostKey.toString('base64')}\n`;
}

/**
 * A route through the system ssh client to `target`, pinned to `hostKey`; undefined where it cannot
 * apply (no verified key, jump hosts). `env` defaults to process.env; the agent comes from the target.
 */
export function openSshRoute(target: SshTarget, hostKey: Buffer | undefined, opts: { log?: (line: string) => void; env?: NodeJS.ProcessEnv } = {}): OpenSshRoute | undefined {
  if (!hostKey || target.proxyJump?.length) return undefined;
  let line: string;
  try {
    line = pinnedKnownHostsLine(hostKey);
  } catch {
    return undefined;
  }
  const env = { ...(opts.env ?? process.env) };
  if (typeof target.agent === 'string') env.SSH_AUTH_SOCK = target.agent;
  let dir: string | undefined;
  let usable = true;
  const route: OpenSshRoute = {
    get usable() { return usable; },
    start(command, signal) {
      // Synchronous (mkdtemp + a one-line file) so the login can start at once.
      dir ??= mkdtempSync(path.join(os.tmpdir(), 'ct-ssh-'));
      const knownHosts = path.join(dir, 'known_hosts');
      writeFileSync(knownHosts, line, { mode: 0o600 });
      const session = startSession(openSshArgs(target, knownHosts), command, env, signal);
      return {
        cancel: session.cancel,
        async run(input) {
          const r = await session.run(input);
          if (!r.started) {
            usable = false;
            opts.log?.(`System ssh could not log in to ${target.label} without a prompt (${r.reason}); using the built-in client.`);
          }
          return r;
        },
      };
    },
    exec(command, o = {}) {
      return route.start(command, o.signal).run(o);
    },
    async dispose() {
      usable = false;
      if (dir) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
  return route;
}

function startSession(args: string[], command: string, env: NodeJS.ProcessEnv, signal: AbortSignal | undefined): OpenSshSession {
  let stderr = '';
  let started = false;
  let cancelled = false;
  let head = Buffer.alloc(0);
  let src: Readable | undefined;
  let input: OpenSshInput | undefined;
  let markerSeen = false;
  let begin: () => void = () => { markerSeen = true; };
  let settle!: (r: OpenSshResult | Error) => void;
  const done = new Promise<OpenSshResult>((resolve, reject) => { settle = (r) => (r instanceof Error ? reject(r) : resolve(r)); });
  done.catch(() => undefined);

  // The login shell may not be POSIX (fish, csh): the marker goes through sh like every command.
  const child = spawn('ssh', [...args, posix(`printf '%s\\n' ${MARKER} && exec ${command}`)], { env, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
  const onAbort = () => { src?.destroy(); child.kill('SIGTERM'); };
  signal?.addEventListener('abort', onAbort, { once: true });
  const sink = child.stdin!;
  sink.on('error', () => { /* EPIPE when ssh exits early: its exit code tells */ });

  const feed = () => {
    started = true;
    if (!input?.stdin) return sink.end();
    const source = (src = input.stdin());
    // A failed source ends the transfer: the host sees a truncated archive and the command fails.
    source.once('error', (e) => { stderr += `\n${e.message}`; child.kill('SIGTERM'); });
    // Written by hand rather than piped: the write callback is when a chunk can be recycled.
    source.on('data', (chunk: Buffer) => {
      if (!sink.write(chunk, () => recycleChunk(source, chunk))) {
        source.pause();
        sink.once('drain', () => source.resume());
      }
    });
    source.once('end', () => sink.end());
  };
  child.stdout!.on('data', (d: Buffer) => {
    if (markerSeen && input) return input.onStdout?.(d);
    head = Buffer.concat([head, d]);
    if (markerSeen) return; // kept until run() says where output goes
    // Shell start-up files sometimes print to stdout: skip anything before the marker line.
    const at = head.indexOf(`${MARKER}\n`);
    if (at < 0) {
      if (head.length > 65536) child.kill('SIGTERM');
      return;
    }
    head = head.subarray(at + MARKER.length + 1);
    begin();
  });
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString('utf8')).slice(-8192); });
  child.once('error', (e) => { signal?.removeEventListener('abort', onAbort); settle(e); });
  child.once('close', (code) => {
    signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted) return settle(signal.reason instanceof Error ? signal.reason : new Error('Aborted'));
    if (!started) return settle({ started: false, reason: cancelled ? 'cancelled' : stderr.trim().split('\n').pop() || `ssh exited ${code}` });
    const err = (src as (Readable & { errored?: Error | null }) | undefined)?.errored;
    if (err) return settle(err);
    settle({ started: true, code, stderr });
  });

  return {
    cancel() {
      cancelled = true;
      if (!started) child.kill('SIGTERM');
    },
    run(given) {
      input = given ?? {};
      const go = () => {
        markerSeen = true;
        if (head.length) input?.onStdout?.(head);
        head = Buffer.alloc(0);
        feed();
      };
      if (markerSeen) go();
      else begin = go;
      return done.catch((e: Error): OpenSshResult => {
        if (signal?.aborted) throw e;
        return { started: false, reason: e.message }; // spawn failed: no ssh on PATH
      });
    },
  };
}
