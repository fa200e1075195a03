import type { CliScope } from './scope';

/** What a CLI command may touch: streams, environment, working folder and the shared data home. */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  dataHome: string;
  /** The invocation's disposal scope (set by main / `scoped`); everything a command opens is closed with it. */
  scope?: CliScope;
}

/** A usage error: exit code 2 with a one-line reason. */
export class UsageError extends Error {}

/** Exit codes shared by every subcommand. */
export const ExitCode = { ok: 0, error: 1, usage: 2, limit: 3 } as const;
