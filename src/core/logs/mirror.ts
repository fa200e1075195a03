import { promises as fs } from 'node:fs';
import path from 'node:path';
import { withFileLock } from '../fs/lock';
import type { Job } from '../jobs/schema';
import type { ProviderContext, TrainingProvider } from '../providers/types';

/** The local mirror of a job's log: `<logsDir>/<jobId>.log`. */
export const logPathFor = (logsDir: string, jobId: string): string => path.join(logsDir, `${jobId}.log`);

export async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

/**
 * Copy new log bytes from the provider into the job's local mirror. The mirror's size *is* the offset
 * into the provider's log, so the operation is idempotent: a window reload, a crash between fetch and
 * append, or two windows syncing at once can neither repeat nor drop a line. A per-job lock keeps two
 * windows from appending the same bytes twice.
 */
export async function syncLogMirror(job: Job, provider: TrainingProvider, ctx: ProviderContext): Promise<number> {
  const mirror = job.logPath;
  if (!mirror) return 0;
  await fs.mkdir(path.dirname(mirror), { recursive: true });
  return withFileLock(`${mirror}.lock`, async () => {
    const offset = await fileSize(mirror);
    const bytes = await provider.fetchLogs(job, offset, ctx);
    if (!bytes || bytes.length === 0) return 0;
    await fs.appendFile(mirror, bytes);
    return bytes.length;
  }, { timeoutMs: 10_000 });
}

/**
 * Read whole lines of `file` starting at byte `offset`. Returns the lines and the offset just past the
 * last complete line, so a half-written line is read again (complete) next time.
 */
export async function readLinesFrom(file: string, offset: number, maxBytes = 4 * 1024 * 1024): Promise<{ lines: string[]; next: number }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], next: offset };
    throw e;
  }
  try {
    const { size } = await fh.stat();
    if (size <= offset) return { lines: [], next: size < offset ? size : offset };
    const len = Math.min(size - offset, maxBytes);
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, offset);
    const end = buf.lastIndexOf(0x0a, bytesRead - 1);
    if (end < 0) {
      // A single line longer than maxBytes: hand it over rather than stalling forever.
      if (bytesRead === maxBytes) return { lines: [buf.toString('utf8', 0, bytesRead)], next: offset + bytesRead };
      return { lines: [], next: offset };
    }
    const text = buf.toString('utf8', 0, end);
    // tqdm redraws with \r: keep the last state of each physical line.
    const lines = text.split('\n').map((l) => { const i = l.lastIndexOf('\r', l.length - 2); return i >= 0 ? l.slice(i + 1).replace(/\r$/, '') : l.replace(/\r$/, ''); });
    return { lines, next: offset + end + 1 };
  } finally {
    await fh.close();
  }
}
