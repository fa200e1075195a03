/**
 * Runs the built CLI (`dist/cli.js`) as a real child process and watches whether it exits by itself.
 * Node stays alive while any socket, timer or child is open, so "the command printed its last line but
 * never returned" only shows in a separate process that is not killed by the test: this helper gives
 * it `quietLimitMs` after its last output to exit, then kills it and reports it as hung.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const CLI_JS = path.resolve(__dirname, '../../dist/cli.js');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  /** Killed by us: still alive `quietLimitMs` after its last output line (or past `hardLimitMs`). */
  hung: boolean;
  /** From the last output to the exit (ms): how long it lingered after it was done talking. */
  lingerMs: number;
}

export interface CliRunOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Called on every output chunk, e.g. to send SIGINT once a line appeared. */
  onOutput?: (child: ChildProcess, out: string, err: string) => void;
  quietLimitMs?: number;
  hardLimitMs?: number;
  /** Run on a pseudo-terminal (util-linux `script`), so prompts are asked; write keys to child.stdin. */
  tty?: boolean;
}

const live = new Set<ChildProcess>();

/** Kill whatever is still running (cleanup in `afterEach`). */
export function killLiveClis(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}

export function runCli(args: string[], o: CliRunOptions): Promise<CliRun> {
  const quietLimit = o.quietLimitMs ?? 15_000;
  const hardLimit = o.hardLimitMs ?? 180_000;
  const started = Date.now();
  const argv = [process.execPath, CLI_JS, ...args];
  const child = o.tty
    // -e: script exits with the command's code; -f: output as it comes; the log goes nowhere.
    ? spawn('script', ['-qfec', argv.map(shellQuote).join(' '), '/dev/null'], { cwd: o.cwd, env: o.env, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  let lastOutputAt = started;
  let exitedAt = 0;
  let hung = false;
  const seen = () => {
    lastOutputAt = Date.now();
    o.onOutput?.(child, out, err);
  };
  child.stdout!.on('data', (d: Buffer) => { out += d; seen(); });
  child.stderr!.on('data', (d: Buffer) => { err += d; seen(); });
  child.once('exit', () => { exitedAt = Date.now(); });
  // Bounded: every check either sees the exit or kills the child within quietLimit/hardLimit.
  const watchdog = setInterval(() => {
    if (exitedAt) return;
    const now = Date.now();
    if (now - lastOutputAt > quietLimit || now - started > hardLimit) {
      hung = true;
      child.kill('SIGKILL');
    }
  }, 200);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => { clearInterval(watchdog); live.delete(child); reject(e); });
    // 'close': the exit happened and every byte of stdout/stderr has been read.
    child.once('close', (code, signal) => {
      clearInterval(watchdog);
      live.delete(child);
      resolve({ code, signal, out, err, hung, lingerMs: (exitedAt || Date.now()) - lastOutputAt });
    });
  });
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
