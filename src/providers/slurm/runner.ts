import { spawn } from 'node:child_process';

/** What one remote (or local) shell command returned. */
export interface CommandResult { stdout: string; stderr: string; code: number }

/**
 * Runs one shell command on the cluster's login node. Backed by the SSH connection in production and
 * by a local shell when this machine *is* the login node; the Slurm provider only needs this.
 */
export interface CommandRunner {
  exec(command: string, options?: { signal?: AbortSignal }): Promise<CommandResult>;
  /** True once the transport is gone (a dropped SSH connection): the provider then connects again. */
  isClosed?(): boolean;
  dispose?(): void | Promise<void>;
}

/** `bash -c` on this machine: for a login node that is this machine, and for tests of parsing. */
export function localRunner(env: NodeJS.ProcessEnv = process.env): CommandRunner {
  return {
    exec(command, options = {}) {
      return new Promise((resolve, reject) => {
        if (options.signal?.aborted) return reject(options.signal.reason ?? new Error('aborted'));
        const child = spawn('/bin/bash', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (d: Buffer) => out.push(d));
        child.stderr.on('data', (d: Buffer) => err.push(d));
        child.once('error', reject);
        child.once('close', (code) => resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          code: code ?? 1,
        }));
      });
    },
  };
}

/** Quote one word for a POSIX shell. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
