import type { CliIO } from './io';

/** Something a CLI invocation created and must close: a registry, provider, monitor, server, timer. */
export type Disposer = () => unknown;

/**
 * Everything one CLI invocation owns, closed in reverse order when the command ends, whatever way it
 * ends (success, error, Ctrl-C, a refused submission, bad usage). Node exits by itself only once every
 * socket, timer and child is closed, so an SSH connection left in a provider registry would keep
 * `cloudtrain cancel` running forever: the fix is that nothing is created outside a scope.
 *
 * `signal` is aborted on Ctrl-C/SIGTERM: long waits (--follow, packaging, `serve`) watch it and
 * return 130 themselves; the scope is disposed after that either way.
 */
export class CliScope {
  private readonly disposers: Disposer[] = [];
  private readonly controller = new AbortController();
  private disposing: Promise<void> | undefined;
  /** Which signal interrupted the invocation, if one did. */
  interruptedBy: NodeJS.Signals | undefined;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get disposed(): boolean {
    return this.disposing !== undefined;
  }

  /** Close `fn` with the scope (last added, first closed). After disposal it runs at once. */
  defer(fn: Disposer): void {
    if (this.disposing) void Promise.resolve().then(fn).catch(() => undefined);
    else this.disposers.push(fn);
  }

  /** Register an object with dispose() and hand it back. */
  use<T extends { dispose(): unknown }>(x: T): T {
    this.defer(() => x.dispose());
    return x;
  }

  /** Ctrl-C / SIGTERM: tell the running command to stop. */
  interrupt(signal: NodeJS.Signals = 'SIGINT'): void {
    if (this.controller.signal.aborted) return;
    this.interruptedBy = signal;
    this.controller.abort(new DOMException(`Interrupted (${signal})`, 'AbortError'));
  }

  /** Close everything (each once, newest first); one failing disposer does not stop the others. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      // Anything still waiting on the signal stops now (not an interruption: interruptedBy stays unset).
      if (!this.controller.signal.aborted) this.controller.abort(new DOMException('The command ended', 'AbortError'));
      for (const fn of this.disposers.splice(0).reverse()) {
        try {
          await fn();
        } catch {
          /* closing is best effort: the rest must still close */
        }
      }
    })();
    return this.disposing;
  }
}

/** A CliIO inside an invocation: what `cliContext` and commands that create resources need. */
export type ScopedIO = CliIO & { scope: CliScope };

/** Exit code of an invocation stopped by `signal` (the shell's convention: 128 + number). */
export function signalExitCode(signal: NodeJS.Signals | undefined): number {
  return signal === 'SIGTERM' ? 143 : 130;
}

/**
 * Run `fn` inside the caller's scope, or — called directly (tests, scripts) — inside a new one that is
 * wired to Ctrl-C/SIGTERM and disposed when `fn` settles. main() uses the same wiring.
 */
export async function inScope<T>(io: CliIO, fn: (io: ScopedIO) => Promise<T>): Promise<T> {
  if (io.scope) return fn(io as ScopedIO);
  const scope = new CliScope();
  const unbind = bindSignals(scope);
  try {
    return await fn({ ...io, scope });
  } finally {
    unbind();
    await scope.dispose();
  }
}

/** Wrap a command so that everything it creates is disposed when it returns or throws. */
export function scoped(run: (argv: string[], io: ScopedIO) => Promise<number>): (argv: string[], io: CliIO) => Promise<number> {
  return (argv, io) => inScope(io, (s) => run(argv, s));
}

/**
 * Ctrl-C and SIGTERM interrupt the scope (the command stops and cleans up); a second Ctrl-C while it
 * is still cleaning up exits at once, as users expect of a stuck terminal.
 */
export function bindSignals(scope: CliScope): () => void {
  const on = (signal: NodeJS.Signals) => () => {
    if (scope.signal.aborted) {
      process.exit(signalExitCode(signal));
    }
    scope.interrupt(signal);
  };
  const onInt = on('SIGINT');
  const onTerm = on('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
}
