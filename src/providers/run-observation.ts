/**
 * Reading the state of a detached run (local and SSH providers) from its two traces: whether its
 * process is alive, and the `exit_code` file its wrapper writes (atomically) just before exiting.
 *
 * The order matters. Read "no exit file" first and "process gone" second, and a run that finishes
 * between the two reads looks killed: a succeeded job recorded as failed. Asked the other way round
 * it cannot: a process seen gone wrote its exit file (if it ever will) before it went, so a later
 * read finds it; a process seen alive with no exit file after that is still running.
 */

export interface ExitRecord { code: number; finishedAt?: string }

/** The two reads, separately, so tests can drive any interleaving with a real process and real files. */
export interface RunProbe {
  /** Is the run's process still alive and still ours (not a reused pid)? */
  alive(): Promise<boolean>;
  /** The recorded exit code, if the wrapper wrote one. */
  exitCode(): Promise<ExitRecord | undefined>;
}

export type RunObservation =
  | { state: 'exited'; code: number; finishedAt?: string }
  | { state: 'running' }
  /** No live process and no exit file: killed by a signal (or a reboot) before the wrapper could record one. */
  | { state: 'gone' };

/** One look: liveness first, then the exit file. */
export async function observeRun(probe: RunProbe): Promise<RunObservation> {
  const alive = await probe.alive();
  const exit = await probe.exitCode();
  if (exit) return { state: 'exited', ...exit };
  return alive ? { state: 'running' } : { state: 'gone' };
}

/** Default wait before the second look at a run that seemed gone. */
export const GONE_GRACE_MS = 500;

/**
 * "Gone without an exit code" ends a job as failed, so it is final only when a second look, a
 * short grace later, agrees (a slow filesystem, a zombie being reaped, a wrapper still renaming its
 * exit file). Anything else is returned as first seen; the job stays running meanwhile.
 */
export async function confirmGone<T>(look: () => Promise<T>, isGone: (t: T) => boolean, graceMs = GONE_GRACE_MS, signal?: AbortSignal): Promise<T> {
  const first = await look();
  if (!isGone(first)) return first;
  await delay(graceMs, signal);
  return look();
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
