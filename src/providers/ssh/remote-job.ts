import type { SshConnection } from './connection';
import { posix, shellQuote } from './remote-shell';

/**
 * A training process on the host that outlives the SSH connection. Each run has a folder holding
 *   run.sh     the wrapper: records its pid (= process group, it is a session leader), runs the command
 *              with stdout+stderr appended to `log`, then writes `exit_code` (atomically, via rename)
 *   pid, started_at, log, exit_code
 * Everything about the run is read back from these files, so a reconnect (or another machine) can
 * reattach at any time.
 */

export interface RunSpec {
  runDir: string;
  cwd: string;
  command: string;
  env: Record<string, string>;
  /** Use tmux when the host has it (the user can `tmux attach -t <session>`). */
  tmux: boolean;
  sessionName: string;
}

export interface LaunchResult { pgid: number; tmuxSession?: string }

export type RunState =
  | { state: 'running'; pgid: number; logBytes: number }
  | { state: 'exited'; code: number; logBytes: number; finishedAt?: string }
  /** No exit code and no live process: killed by a signal (cancel's KILL, OOM killer, reboot). */
  | { state: 'vanished'; logBytes: number }
  | { state: 'missing' };

export function runScript(spec: RunSpec): string {
  const q = shellQuote;
  const f = (n: string) => q(`${spec.runDir}/${n}`);
  const exports = Object.entries(spec.env).map(([k, v]) => `export ${k}=${q(v)}`);
  return [
    '#!/bin/sh',
    '# cloud-training run wrapper',
    `echo $$ > ${f('pid.tmp')} && mv ${f('pid.tmp')} ${f('pid')}`,
    `date -u +%Y-%m-%dT%H:%M:%SZ > ${f('started_at')}`,
    // A handler (not "ignore": that would be inherited by the command) so a TERM to the group still
    // lets the wrapper record the command's exit code.
    "trap 'ct_term=1' TERM HUP INT",
    ...exports,
    'export PYTHONUNBUFFERED=1',
    `cd ${q(spec.cwd)} || { echo "cannot cd to ${spec.cwd.replace(/["$`\\]/g, '')}" >> ${f('log')}; echo 127 > ${f('exit_code.tmp')}; mv ${f('exit_code.tmp')} ${f('exit_code')}; exit 127; }`,
    `( ${spec.command} ) >> ${f('log')} 2>&1 < /dev/null`,
    'code=$?',
    `echo "$code" > ${f('exit_code.tmp')} && mv ${f('exit_code.tmp')} ${f('exit_code')}`,
    'exit "$code"',
    '',
  ].join('\n');
}

/** Write run.sh and start it detached (tmux, else setsid + nohup); returns the process group id. */
export async function launchRun(conn: SshConnection, spec: RunSpec, signal?: AbortSignal): Promise<LaunchResult> {
  const dir = shellQuote(spec.runDir);
  const script = `${spec.runDir}/run.sh`;
  await conn.run(posix(`mkdir -p ${dir} && cat > ${shellQuote(script)} && chmod 700 ${shellQuote(script)} && : > ${shellQuote(`${spec.runDir}/log`)}`), { stdin: runScript(spec), signal });
  const session = spec.sessionName.replace(/[^\w-]/g, '_');
  const detached = `setsid nohup sh ${shellQuote(script)} > /dev/null 2>&1 < /dev/null &`;
  // tmux panes inherit the tmux server's environment, not ours: pass this login's PATH explicitly.
  const start = spec.tmux
    ? `if command -v tmux >/dev/null 2>&1; then tmux new-session -d -s ${shellQuote(session)} "exec env PATH=\\"$PATH\\" sh ${shellQuote(script)}" && echo tmux; else ${detached} echo setsid; fi`
    : `${detached} echo setsid`;
  // Wait (bounded) for the wrapper to record its pid, so the caller always gets a process group. The
  // bound is generous: on a loaded host a run that starts after it would be reported failed yet run untracked.
  const out = await conn.run(posix(`cd ${dir} && { ${start}; } && i=0; while [ ! -s pid ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo; cat pid`), { signal });
  const lines = out.trim().split('\n').map((s) => s.trim()).filter(Boolean);
  const pgid = Number(lines[lines.length - 1]);
  if (!Number.isInteger(pgid) || pgid <= 0) throw new Error(`The training command did not start on the host: ${out.trim().slice(0, 300)}`);
  return { pgid, tmuxSession: lines[0] === 'tmux' ? session : undefined };
}

/**
 * The state of a run in one round trip: liveness of its process group first, then the exit file,
 * then the log size. The wrapper writes `exit_code` before it exits, so in this order a run seen
 * gone has its exit file (if it will ever have one) by the time the file is read; the other order
 * mistakes a run that ends between the two reads for a killed one (see run-observation.ts).
 * The group counts as ours unless its leader is alive with a command line that is not this run's
 * wrapper (a pid reused after a reboot). `between` is a shell fragment run between the two reads:
 * tests use it to end a run at exactly that point.
 */
export function runStateCommand(runDir: string, between = ''): string {
  const d = shellQuote(runDir);
  return `cd ${d} 2>/dev/null || { echo missing; exit 0; }; alive=; p=; `
    + `if [ -s pid ]; then p=$(cat pid); if kill -0 -"$p" 2>/dev/null; then `
    + `c=$(tr '\\0' ' ' < /proc/"$p"/cmdline 2>/dev/null); case "$c" in ''|*${shellQuote(`${runDir}/run.sh`)}*) alive=1 ;; esac; fi; fi; `
    + (between ? `${between}; ` : '')
    + `if [ -s exit_code ]; then echo "exit $(cat exit_code) $(date -u -r exit_code +%Y-%m-%dT%H:%M:%SZ)"; `
    + `elif [ -n "$alive" ]; then echo "alive $p"; else echo gone; fi; `
    + `stat -c %s log 2>/dev/null || echo 0`;
}

export function parseRunState(stdout: string): RunState {
  const out = stdout.trim().split('\n');
  const head = out[0]?.trim() ?? '';
  const logBytes = Number(out[1] ?? 0) || 0;
  if (head === 'missing') return { state: 'missing' };
  const m = /^exit (-?\d+)(?: (\S+))?$/.exec(head);
  if (m) return { state: 'exited', code: Number(m[1]), logBytes, finishedAt: m[2] };
  const a = /^alive (\d+)$/.exec(head);
  if (a) return { state: 'running', pgid: Number(a[1]), logBytes };
  return { state: 'vanished', logBytes };
}

export async function readRunState(conn: SshConnection, runDir: string, signal?: AbortSignal): Promise<RunState> {
  return parseRunState(await conn.run(posix(runStateCommand(runDir)), { signal }));
}

/** Log bytes from `offset` (at most `max`): `tail -c +N` is byte-exact, so a reattach neither repeats nor loses lines. */
export async function readLog(conn: SshConnection, runDir: string, offset: number, max = 4 * 1024 * 1024, signal?: AbortSignal): Promise<Buffer> {
  const log = shellQuote(`${runDir}/log`);
  const r = await conn.execBuffer(posix(`[ -f ${log} ] && tail -c +${Math.max(0, Math.floor(offset)) + 1} ${log} | head -c ${max}; true`), { signal });
  return r.stdout;
}

/**
 * TERM to the whole process group (the wrapper, the trainer and every worker it forked), then KILL
 * whatever is left after `graceSeconds`. A group that is already gone is fine.
 */
export async function killRun(conn: SshConnection, pgid: number, opts: { graceSeconds?: number; tmuxSession?: string; signal?: AbortSignal } = {}): Promise<'terminated' | 'killed' | 'not-running'> {
  const ticks = Math.max(1, Math.round((opts.graceSeconds ?? 10) * 10));
  // The session usually ended with its command already: tmux then exits 1, which is not a failure.
  const tmux = opts.tmuxSession ? `; tmux kill-session -t ${shellQuote(opts.tmuxSession)} 2>/dev/null || true` : '';
  const cmd = `g=${pgid}; kill -0 -$g 2>/dev/null || { echo not-running${tmux}; exit 0; }; kill -TERM -$g 2>/dev/null; i=0; `
    + `while kill -0 -$g 2>/dev/null && [ $i -lt ${ticks} ]; do sleep 0.1; i=$((i+1)); done; `
    + `if kill -0 -$g 2>/dev/null; then kill -KILL -$g 2>/dev/null; echo killed; else echo terminated; fi${tmux}`;
  const out = (await conn.run(posix(cmd), { signal: opts.signal })).trim();
  return out.startsWith('killed') ? 'killed' : out.startsWith('not-running') ? 'not-running' : 'terminated';
}
