import { promises as fs, constants } from 'node:fs';
import os from 'node:os';
import { randomBytes } from 'node:crypto';

export interface LockOptions {
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** A lock whose owner cannot be checked (other host) is considered stale after this long. */
  staleMs?: number;
}

interface LockOwner { pid: number; host: string; token: string; at: number }

/**
 * A cross-process lock on `lockPath` (a file created with O_EXCL). Works between VS Code windows,
 * the CLI and tests. A lock left by a killed process is detected (its pid is gone) and broken, under a
 * second short-lived "breaker" lock so two waiters never both break it and then both enter.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const release = await acquireFileLock(lockPath, opts);
  try {
    return await fn();
  } finally {
    await release();
  }
}

export async function acquireFileLock(lockPath: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const staleMs = opts.staleMs ?? 60_000;
  const me: LockOwner = { pid: process.pid, host: os.hostname(), token: randomBytes(8).toString('hex'), at: Date.now() };
  const started = Date.now();
  let delay = 2;
  for (;;) {
    try {
      const fh = await fs.open(lockPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      try { await fh.writeFile(JSON.stringify(me)); } finally { await fh.close(); }
      return async () => {
        // Only remove the lock if it is still ours (it could have been broken as stale).
        const owner = await readOwner(lockPath);
        if (owner?.token === me.token) await fs.rm(lockPath, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    await breakIfStale(lockPath, staleMs);
    if (Date.now() - started > timeoutMs) {
      const owner = await readOwner(lockPath);
      throw new Error(`Timed out after ${timeoutMs} ms waiting for lock ${lockPath}` + (owner ? ` (held by pid ${owner.pid} on ${owner.host})` : ''));
    }
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 50);
  }
}

async function readOwner(lockPath: string): Promise<LockOwner | undefined> {
  try {
    const o = JSON.parse(await fs.readFile(lockPath, 'utf8')) as LockOwner;
    return typeof o.pid === 'number' && typeof o.token === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isStale(lockPath: string, staleMs: number): Promise<{ stale: boolean; token?: string }> {
  const owner = await readOwner(lockPath);
  if (!owner) {
    // Empty/partial lock file: its writer may be between open and write. Stale only if old.
    try {
      const st = await fs.stat(lockPath);
      return { stale: Date.now() - st.mtimeMs > 2_000 };
    } catch {
      return { stale: false };
    }
  }
  if (owner.host === os.hostname()) return { stale: !pidAlive(owner.pid), token: owner.token };
  return { stale: Date.now() - owner.at > staleMs, token: owner.token };
}

async function breakIfStale(lockPath: string, staleMs: number): Promise<void> {
  const first = await isStale(lockPath, staleMs);
  if (!first.stale) return;
  const breaker = `${lockPath}.break`;
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(breaker, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Someone else is breaking it; a breaker left by a killed process is removed after a while.
    try {
      const st = await fs.stat(breaker);
      if (Date.now() - st.mtimeMs > 5_000) await fs.rm(breaker, { force: true });
    } catch { /* gone already */ }
    return;
  }
  try {
    await fh.close();
    // Re-check under the breaker: the lock may have been released and re-taken meanwhile.
    const again = await isStale(lockPath, staleMs);
    if (again.stale && again.token === first.token) await fs.rm(lockPath, { force: true });
  } finally {
    await fs.rm(breaker, { force: true });
  }
}
