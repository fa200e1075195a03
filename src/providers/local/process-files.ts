import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { RunProbe } from '../run-observation';

/** Is this pid alive, and (on Linux) still the process we started rather than a reused pid? */
export async function isOurProcessAlive(pid: number, marker: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    // A zombie has an empty cmdline: it is finished.
    return cmdline.includes(marker);
  } catch {
    // No /proc (macOS): trust kill(0).
    return process.platform !== 'linux';
  }
}

export async function readIntFile(file: string): Promise<number | undefined> {
  try {
    const t = (await fs.readFile(file, 'utf8')).trim();
    if (!/^-?\d+$/.test(t)) return undefined;
    return Number(t);
  } catch {
    return undefined;
  }
}

/** The real probe of a local run: its wrapper's pid (checked against its cmdline) and its `exit_code` file. */
export function localRunProbe(run: { jobDir: string; pid: number; runScript: string }): RunProbe {
  const exitFile = path.join(run.jobDir, 'exit_code');
  return {
    alive: () => isOurProcessAlive(run.pid, run.runScript),
    async exitCode() {
      const code = await readIntFile(exitFile);
      if (code === undefined) return undefined;
      const finishedAt = await fs.stat(exitFile).then((s) => s.mtime.toISOString(), () => undefined);
      return { code, finishedAt };
    },
  };
}
