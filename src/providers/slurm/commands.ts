import { CommandRunner, shq } from './runner';
import {
  SACCT_FIELDS, SQUEUE_FORMAT, SlurmObservation, isActiveSlurmState, parseSacct, parseScontrolJob, parseSqueue,
} from './state';

/** Slurm prints local times without a zone; epoch seconds make them unambiguous. */
const EPOCH_TIMES = 'export SLURM_TIME_FORMAT=%s;';

export interface ObserveResult {
  observation?: SlurmObservation;
  /** Every command answered but none knows the job (purged, accounting disabled). */
  unknown: boolean;
  /** The code the job script recorded in `exitFile` (see script.ts), read when Slurm has no final state to give. */
  recordedExit?: number;
}

/**
 * Ask the cluster about one job: `squeue` while it is queued or running (cheap, no database), then
 * `sacct` once it has left the queue (its record has the exit code and "CANCELLED by <uid>"). Where
 * accounting is disabled, `scontrol show job` still knows finished jobs for MinJobAge seconds; after
 * that only the job script's own record (`exitFile`) is left. A database that does not answer is an
 * error (retried), never "the job is unknown": that would end a running job as lost.
 */
export async function observeJob(runner: CommandRunner, jobId: string, signal?: AbortSignal, exitFile?: string): Promise<ObserveResult> {
  if (!/^\d+(_\d+)?$/.test(jobId)) throw new Error(`Not a Slurm job id: ${jobId}`);
  const q = await runner.exec(`${EPOCH_TIMES} squeue -h -t all -j ${jobId} -o ${shq(SQUEUE_FORMAT)}`, { signal });
  const fromQueue = q.code === 0 ? parseSqueue(q.stdout, jobId) : undefined;
  if (q.code !== 0 && !/invalid job id/i.test(q.stderr)) throw new Error(`squeue failed (exit ${q.code}): ${q.stderr.trim().slice(0, 300)}`);
  if (fromQueue && isActiveSlurmState(fromQueue.state)) return { observation: fromQueue, unknown: false };

  const MARK = '@@cloud-training-scontrol@@';
  const EXIT_MARK = '@@cloud-training-exit@@';
  const r = await runner.exec(
    `${EPOCH_TIMES} sacct -X -n -P -j ${jobId} -o ${SACCT_FIELDS} 2>&1; echo "${MARK}$?"; scontrol show job -o ${jobId} 2>&1`
      + (exitFile ? `; echo ${EXIT_MARK}; cat ${shq(exitFile)} 2>/dev/null` : ''),
    { signal },
  );
  // <sacct output> MARK<sacct's exit status>\n <scontrol output> [EXIT_MARK\n <exit file>]
  const [acct = '', rest = ''] = r.stdout.split(MARK);
  const [statusAndCtl = '', exitText] = rest.split(EXIT_MARK);
  const acctStatus = Number(/^(\d+)/.exec(statusAndCtl)?.[1] ?? 0);
  const ctl = statusAndCtl.replace(/^\d+\n?/, '');
  const fromAcct = parseSacct(acct, jobId);
  // slurmdbd records asynchronously: just after the end it may still say RUNNING while squeue knows better.
  if (fromAcct && !(fromQueue && isActiveSlurmState(fromAcct.state))) return { observation: fromAcct, unknown: false };
  const fromCtl = parseScontrolJob(ctl, jobId);
  if (fromCtl) return { observation: { ...fromCtl, reason: fromCtl.reason?.replace(/_/g, ' ') }, unknown: false };
  if (fromQueue) return { observation: fromQueue, unknown: false };
  const code = exitText?.trim();
  const recordedExit = code && /^\d+$/.test(code) ? Number(code) : undefined;
  if (recordedExit !== undefined) return { unknown: true, recordedExit };
  // No accounting (or no sacct at all) is an answer; a database that did not answer is not.
  if (acctStatus !== 0 && acctStatus !== 127 && !/accounting storage is disabled/i.test(acct)) {
    throw new Error(`Slurm cannot say what became of job ${jobId}: sacct failed (exit ${acctStatus}): ${acct.trim().slice(0, 300)}`);
  }
  return { unknown: true };
}

/** `sbatch --parsable` prints "<id>" or "<id>;<cluster>". */
export function parseSbatchParsable(stdout: string): string {
  const line = stdout.trim().split('\n').pop()?.trim() ?? '';
  const id = line.split(';')[0] ?? '';
  if (!/^\d+$/.test(id)) throw new Error(`sbatch did not return a job id: ${stdout.trim().slice(0, 300)}`);
  return id;
}

/** Cancel; a job that already ended or was purged is fine. */
export async function scancel(runner: CommandRunner, jobId: string, signal?: AbortSignal): Promise<void> {
  const r = await runner.exec(`scancel ${jobId}`, { signal });
  if (r.code === 0) return;
  if (/invalid job id|already completing or completed|job has already finished/i.test(r.stderr)) return;
  throw new Error(`scancel failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
}

/** Bytes [offset, offset+max) of a file on the cluster, base64 over the wire so no byte is mangled. */
export async function readRemoteBytes(runner: CommandRunner, file: string, offset: number, max: number, signal?: AbortSignal): Promise<Buffer> {
  const f = shq(file);
  const r = await runner.exec(
    `if [ -f ${f} ]; then tail -c +${Math.floor(offset) + 1} ${f} | head -c ${Math.floor(max)} | base64 | tr -d '\\n'; fi`,
    { signal },
  );
  if (r.code !== 0) throw new Error(`reading ${file} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  return Buffer.from(r.stdout.trim(), 'base64');
}

/** Write a file on the cluster (mode 600 when private), creating its folder. */
export async function writeRemoteFile(runner: CommandRunner, file: string, content: string, opts: { private?: boolean; signal?: AbortSignal } = {}): Promise<void> {
  const dir = file.replace(/\/[^/]*$/, '') || '/';
  const b64 = Buffer.from(content, 'utf8').toString('base64');
  const r = await runner.exec(
    `mkdir -p ${shq(dir)} && (${opts.private ? 'umask 077 && ' : ''}printf %s ${b64} | base64 -d > ${shq(file)})`,
    { signal: opts.signal },
  );
  if (r.code !== 0) throw new Error(`writing ${file} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
}

export interface SlurmDetection { isSlurm: boolean; version?: string; message: string }

/** Is this host a Slurm login node? (`sbatch --version` prints "slurm 22.05.8".) */
export async function detectSlurm(runner: CommandRunner, signal?: AbortSignal): Promise<SlurmDetection> {
  const r = await runner.exec('sbatch --version', { signal });
  const m = /slurm(?:-wlm)?\s+(\d[\w.-]*)/i.exec(r.stdout);
  if (r.code === 0 && m) return { isSlurm: true, version: m[1], message: `Slurm ${m[1]}` };
  if (r.code === 127 || /not found/i.test(r.stderr)) return { isSlurm: false, message: 'sbatch is not installed on this host' };
  return { isSlurm: false, message: `sbatch --version failed: ${(r.stderr || r.stdout).trim().slice(0, 300)}` };
}

export interface PartitionInfo { name: string; isDefault: boolean; nodes: number; gres: string; timeLimit: string; available: boolean }

/** Partitions from `sinfo`, for the hardware picker. */
export async function listPartitions(runner: CommandRunner, signal?: AbortSignal): Promise<PartitionInfo[]> {
  const r = await runner.exec(`sinfo -h -o '%P|%D|%G|%l|%a'`, { signal });
  if (r.code !== 0) throw new Error(`sinfo failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  const byName = new Map<string, PartitionInfo>();
  for (const line of r.stdout.split('\n')) {
    const [p, n, g, l, a] = line.split('|');
    if (!p || n === undefined) continue;
    const name = p.replace(/\*$/, '');
    const prev = byName.get(name);
    // sinfo prints one row per node state; add them up.
    if (prev) { prev.nodes += Number(n) || 0; continue; }
    byName.set(name, { name, isDefault: p.endsWith('*'), nodes: Number(n) || 0, gres: g ?? '', timeLimit: l ?? '', available: a === 'up' });
  }
  return [...byName.values()];
}
