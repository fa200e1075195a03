import * as z from 'zod';
import type { JobStatus } from '../../core/jobs/schema';
import type { StatusUpdate } from '../../core/providers/types';

/** What the cluster said about one job, from whichever command answered. */
export const SlurmObservationSchema = z.object({
  source: z.enum(['squeue', 'sacct', 'scontrol']),
  /** Slurm's state word, e.g. PENDING, or "CANCELLED by 1000" from sacct. */
  state: z.string().min(1),
  reason: z.string().optional(),
  /** "exit:signal", e.g. "1:0". */
  exitCode: z.string().optional(),
  /** Unix seconds (we ask Slurm for epoch times, so the cluster's time zone does not matter). */
  start: z.number().int().optional(),
  end: z.number().int().optional(),
  elapsedSeconds: z.number().nonnegative().optional(),
  nodes: z.number().int().optional(),
  nodeList: z.string().optional(),
});
export type SlurmObservation = z.infer<typeof SlurmObservationSchema>;

/** Plain-language meaning of the pending reasons users meet most. */
const PENDING_REASONS: Record<string, string> = {
  Resources: 'waiting for free nodes/GPUs',
  Priority: 'jobs with higher priority are ahead in the queue',
  BeginTime: 'waiting for its start time',
  Dependency: 'waiting for another job',
  DependencyNeverSatisfied: 'a job it depends on failed; it will never start',
  JobHeldUser: 'held by the user (scontrol release to start it)',
  JobHeldAdmin: 'held by an administrator',
  ReqNodeNotAvail: 'requested nodes are down, drained or reserved',
  PartitionNodeLimit: 'asks for more nodes than the partition allows',
  PartitionTimeLimit: 'time limit is above the partition maximum',
  PartitionDown: 'the partition is down',
  QOSMaxGRESPerUser: 'your GPU quota is in use',
  AssocGrpGRES: 'your account\'s GPU quota is in use',
  QOSMaxJobsPerUserLimit: 'your job-count quota is in use',
  Nodes: 'nodes required are down, drained or reserved',
};

/** The base state word: "CANCELLED by 0" → CANCELLED, "RUNNING+" → RUNNING. */
export function baseState(state: string): string {
  return (state.trim().split(/\s+/)[0] ?? '').replace(/\+$/, '').toUpperCase();
}

const ACTIVE = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'STOPPED', 'REQUEUED', 'REQUEUE_HOLD',
  'REQUEUE_FED', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'RESV_DEL_HOLD']);
export const isActiveSlurmState = (state: string): boolean => ACTIVE.has(baseState(state));

/** Map a Slurm state (+ reason, exit code) onto our status and a line saying why. */
export function mapSlurmState(state: string, reason?: string, exitCode?: string): { status: JobStatus; detail?: string } {
  const base = baseState(state);
  const why = reason && reason !== 'None' && reason !== '(null)' ? reason : undefined;
  const exit = exitCode && exitCode !== '0:0' ? describeExit(exitCode) : undefined;
  switch (base) {
    case 'PENDING':
    case 'REQUEUED':
    case 'REQUEUE_HOLD':
    case 'REQUEUE_FED':
    case 'RESV_DEL_HOLD': {
      if (!why) return { status: 'queued', detail: base === 'PENDING' ? 'Pending' : `Pending (${base.toLowerCase()})` };
      const key = why.split(/[,\s(]/)[0] ?? why;
      const plain = PENDING_REASONS[key] ?? (why.startsWith('Nodes required') ? PENDING_REASONS.Nodes : undefined);
      return { status: 'queued', detail: `Pending: ${why}${plain && plain !== why ? ` — ${plain}` : ''}` };
    }
    case 'CONFIGURING': return { status: 'starting', detail: 'Nodes are being configured' };
    case 'RUNNING': return { status: 'running' };
    case 'COMPLETING': return { status: 'running', detail: 'Completing: processes are ending' };
    case 'SUSPENDED':
    case 'STOPPED': return { status: 'running', detail: `Suspended${why ? `: ${why}` : ''}` };
    case 'RESIZING':
    case 'SIGNALING':
    case 'STAGE_OUT': return { status: 'running', detail: base.toLowerCase() };
    case 'COMPLETED': return { status: 'succeeded' };
    case 'CANCELLED': {
      const by = /CANCELLED\s+by\s+(\S+)/i.exec(state)?.[1];
      return { status: 'cancelled', detail: by ? `Cancelled by uid ${by}` : 'Cancelled' };
    }
    case 'REVOKED': return { status: 'cancelled', detail: 'Revoked (started on another cluster)' };
    case 'TIMEOUT': return { status: 'failed', detail: 'Time limit reached (TIMEOUT)' };
    case 'DEADLINE': return { status: 'failed', detail: 'Deadline reached (DEADLINE)' };
    case 'OUT_OF_MEMORY': return { status: 'failed', detail: 'Out of memory (OUT_OF_MEMORY)' };
    case 'NODE_FAIL': return { status: 'failed', detail: `A node failed (NODE_FAIL)${why ? `: ${why}` : ''}` };
    case 'BOOT_FAIL': return { status: 'failed', detail: 'A node failed to boot (BOOT_FAIL)' };
    case 'PREEMPTED': return { status: 'failed', detail: 'Preempted by a higher-priority job (PREEMPTED)' };
    case 'FAILED':
    case 'SPECIAL_EXIT': return { status: 'failed', detail: `Failed${exit ? `: ${exit}` : ''}${why && why !== 'NonZeroExitCode' ? ` (${why})` : ''}` };
    default: return { status: 'running', detail: `Slurm state ${state}` };
  }
}

function describeExit(code: string): string {
  const [exit, signal] = code.split(':');
  if (signal && signal !== '0') return `killed by signal ${signal}`;
  return `exit code ${exit}`;
}

// ---- parsers for the three commands' outputs -------------------------------------------------------------

/** Our squeue format: fields separated by '|', the free-text reason last. */
export const SQUEUE_FORMAT = '%i|%T|%S|%e|%M|%D|%N|%r';
/** Our sacct fields (with -P, '|'-separated; -X: the allocation only, not its steps). */
export const SACCT_FIELDS = 'JobIDRaw,State,ExitCode,Start,End,ElapsedRaw,NNodes,NodeList,Reason';

const epoch = (s: string | undefined): number | undefined => (s && /^\d+$/.test(s.trim()) && s.trim() !== '0' ? Number(s.trim()) : undefined);

/** "1-02:03:04", "02:03:04", "3:04" → seconds. */
export function parseSlurmDuration(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(s.trim());
  if (!m) return undefined;
  return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3])) * 60 + Number(m[4]);
}

export function parseSqueue(stdout: string, jobId: string): SlurmObservation | undefined {
  for (const line of stdout.split('\n')) {
    const f = line.split('|');
    if (f.length < 8 || f[0]!.trim() !== jobId) continue;
    return SlurmObservationSchema.parse({
      source: 'squeue', state: f[1]!.trim(), start: epoch(f[2]), end: epoch(f[3]),
      elapsedSeconds: parseSlurmDuration(f[4]), nodes: Number(f[5]) || undefined,
      nodeList: f[6]!.trim() || undefined, reason: f.slice(7).join('|').trim() || undefined,
    });
  }
  return undefined;
}

export function parseSacct(stdout: string, jobId: string): SlurmObservation | undefined {
  // A requeued job has several rows; the last is the current one.
  let found: SlurmObservation | undefined;
  for (const line of stdout.split('\n')) {
    const f = line.split('|');
    if (f.length < 9 || f[0]!.trim() !== jobId) continue;
    found = SlurmObservationSchema.parse({
      source: 'sacct', state: f[1]!.trim(), exitCode: f[2]!.trim() || undefined, start: epoch(f[3]), end: epoch(f[4]),
      elapsedSeconds: /^\d+$/.test(f[5]!.trim()) ? Number(f[5]) : undefined, nodes: Number(f[6]) || undefined,
      nodeList: f[7]!.trim() && f[7]!.trim() !== 'None assigned' ? f[7]!.trim() : undefined,
      reason: f.slice(8).join('|').trim() || undefined,
    });
  }
  return found;
}

/** `scontrol show job -o <id>`: one line of Key=Value pairs; values may contain spaces (Reason). */
export function parseScontrolJob(stdout: string, jobId: string): SlurmObservation | undefined {
  const line = stdout.split('\n').find((l) => new RegExp(`(^|\\s)JobId=${jobId}(\\s|$)`).test(l));
  if (!line) return undefined;
  // A value runs until the next " Key=" token.
  const get = (key: string) => new RegExp(`(?:^|\\s)${key}=(.*?)(?=\\s+[A-Za-z/:]+=|$)`).exec(line)?.[1]?.trim();
  const state = get('JobState');
  if (!state) return undefined;
  return SlurmObservationSchema.parse({
    source: 'scontrol', state, reason: get('Reason'), exitCode: get('ExitCode'),
    start: epoch(get('StartTime')), end: epoch(get('EndTime')), elapsedSeconds: parseSlurmDuration(get('RunTime')),
    nodes: Number(get('NumNodes')) || undefined, nodeList: get('NodeList') || undefined,
  });
}

// ---- to our status ------------------------------------------------------------------------------------

export interface CostBasis { gpusPerNode: number; nodes: number; pricePerGpuHour: number }

/** Our StatusUpdate for an observation, with GPU-hour cost when a price is set. */
export function toStatusUpdate(obs: SlurmObservation, basis: CostBasis, nowSeconds = Math.floor(Date.now() / 1000)): StatusUpdate {
  const { status, detail } = mapSlurmState(obs.state, obs.reason, obs.exitCode);
  const iso = (s: number | undefined) => (s === undefined ? undefined : new Date(s * 1000).toISOString());
  const ran = status !== 'queued' && obs.start !== undefined;
  const terminal = status === 'succeeded' || status === 'failed' || status === 'cancelled';
  let elapsed = obs.elapsedSeconds;
  if (elapsed === undefined && ran) elapsed = Math.max(0, (terminal && obs.end ? obs.end : nowSeconds) - obs.start!);
  const update: StatusUpdate = { status, providerStatus: obs.state, statusDetail: detail };
  if (ran) update.startedAt = iso(obs.start);
  if (terminal && obs.end) update.finishedAt = iso(obs.end);
  if (status === 'failed') update.error = detail;
  if (elapsed !== undefined && status !== 'queued') {
    const gpuHours = (elapsed / 3600) * (obs.nodes ?? basis.nodes) * basis.gpusPerNode;
    const pricePerHour = basis.pricePerGpuHour * basis.gpusPerNode * (obs.nodes ?? basis.nodes);
    update.cost = { billedSeconds: elapsed, pricePerHour, actual: round6(gpuHours * basis.pricePerGpuHour) };
  }
  update.metadata = { slurmSource: obs.source, ...(obs.nodeList ? { nodeList: obs.nodeList } : {}) };
  return update;
}

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;
