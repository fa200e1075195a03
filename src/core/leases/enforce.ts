import os from 'node:os';
import type { JobHistory } from '../jobs/history';
import { isTerminal, type Job } from '../jobs/schema';
import type { LeaseManager, ReconcileReport } from './manager';
import { isLive, type Lease } from './schema';

/**
 * What every process of ours runs (the CLI's `jobs`, `machines`, `logs --follow`, leased `submit`,
 * and each editor window on a timer): the teardown policy at job end, then one `reconcile()` pass
 * (idle expiry, the ceiling, crashed launches, verified teardowns, orphans). So a machine is
 * destroyed even when the window or terminal that rented it is gone — as soon as ANY of our
 * processes runs again.
 */

/** A job counts as over for its machine once it is terminal AND its outputs were collected. */
const FINALIZE_GRACE_MS = 30 * 60_000;
/** A machine that never got its job (the renting process died during the hand-over). */
const NO_JOB_GRACE_MS = 6 * 3600_000;

export function jobIsOverForLease(job: Job | undefined, now: number): boolean {
  if (!job) return true; // deleted from the history: nothing of ours will use the machine
  if (!isTerminal(job.status)) return false;
  if (job.metadata.finalized === true) return true;
  // Outputs not collected yet (a download in progress or failing): give it time, not forever.
  const ended = Date.parse(job.finishedAt ?? job.updatedAt);
  return Number.isFinite(ended) && now - ended > FINALIZE_GRACE_MS;
}

function ownerGone(l: Lease, now: number): boolean {
  const o = l.launchOwner;
  const since = Date.parse(l.activeAt ?? l.launchStartedAt ?? l.createdAt);
  if (now - since > NO_JOB_GRACE_MS) return true;
  if (!o || o.host !== os.hostname()) return false;
  if (o.pid === process.pid) return false;
  try { process.kill(o.pid, 0); return false; } catch (e) { return (e as NodeJS.ErrnoException).code !== 'EPERM'; }
}

/**
 * Apply the teardown policy of every active lease whose jobs are all over (jobEnded once per end).
 * A job on the machine is one in `jobIds` or any job whose SSH host is `lease-<id>` (a resubmit, or a
 * next job sent to the kept machine): an active one clears the idle clock and joins `jobIds`.
 */
export async function applyJobEnds(manager: LeaseManager, history: JobHistory, now = Date.now()): Promise<Lease[]> {
  const changed: Lease[] = [];
  const leases = (await manager.list()).filter((l) => l.state === 'active');
  if (!leases.length) return changed;
  const all = await history.list();
  for (let l of leases) {
    const onIt = all.filter((j) => l.jobIds.includes(j.id) || j.hardware === `lease-${l.id}`);
    const running = onIt.filter((j) => !isTerminal(j.status));
    if (running.length) {
      for (const j of running) if (!l.jobIds.includes(j.id) || l.idleSince) l = await manager.jobStarted(l.id, j.id);
      continue;
    }
    if (l.policy.kind === 'keep' || l.idleSince) continue;
    const missing = l.jobIds.filter((id) => !onIt.some((j) => j.id === id)); // deleted from the history
    const over = onIt.length || missing.length ? onIt.every((j) => jobIsOverForLease(j, now)) : ownerGone(l, now);
    if (over) changed.push(await manager.jobEnded(l.id));
  }
  return changed;
}

/**
 * A machine kept after its job (idle, keep) still bills: its finished jobs' `cost.actual` (what the
 * spending limits count) follows the lease's cost so far, split evenly, updated in steps of 5 cents
 * so the history is not rewritten every pass. The final figure is written when the lease ends
 * (job-cost.ts).
 */
export async function recordCostSoFar(manager: LeaseManager, history: JobHistory, now = Date.now()): Promise<void> {
  for (const l of await manager.list()) {
    if (!isLive(l) || l.pricePerHour === undefined || !l.launchStartedAt || !l.jobIds.length) continue;
    const share = Math.round(l.pricePerHour * Math.max(0, now - Date.parse(l.launchStartedAt)) / 3600_000 / l.jobIds.length * 10_000) / 10_000;
    for (const id of l.jobIds) {
      const j = await history.get(id);
      if (!j || !isTerminal(j.status) || j.metadata.finalized !== true) continue;
      if (j.cost?.actual !== undefined && share - j.cost.actual < 0.05) continue;
      await history.update(id, (x) => ({ ...x, cost: { ...(x.cost ?? { currency: 'USD' as const }), actual: share, pricePerHour: l.pricePerHour } }));
    }
  }
}

export async function enforceLeases(manager: LeaseManager, history: JobHistory): Promise<ReconcileReport> {
  await applyJobEnds(manager, history);
  await recordCostSoFar(manager, history);
  const report = await manager.reconcile();
  // A lease this pass decided to drain (idle, ceiling) gets its destroy call now, not a pass later.
  for (const l of report.changed.filter((x) => x.state === 'draining')) {
    const again = await manager.reconcile({ only: l.id });
    const after = again.changed.find((x) => x.id === l.id);
    if (after) report.changed[report.changed.indexOf(l)] = after;
  }
  return report;
}

/**
 * The process that followed the job to its end: apply the policy now and, when it destroys, wait for
 * the provider to confirm the machine gone (the verified teardown), reporting as it goes.
 */
export async function finishLease(manager: LeaseManager, history: JobHistory, leaseId: string, o: { report?: (l: string) => void; pollMs?: number; maxSteps?: number } = {}): Promise<Lease | undefined> {
  await applyJobEnds(manager, history);
  let l = (await manager.list()).find((x) => x.id === leaseId);
  if (!l) return undefined;
  if (l.state === 'active') {
    if (l.policy.kind === 'keep') o.report?.(`Machine kept (lease ${l.id}, ${l.provider} ${l.instanceId}); it bills until you run: cloudtrain machines destroy ${l.id}`);
    else if (l.policy.kind === 'idle') o.report?.(`Machine kept for ${l.policy.minutes} idle minutes (lease ${l.id}); the next job on it reuses it, then any cloudtrain jobs/machines/logs run or open editor window destroys it.`);
    return l;
  }
  if (l.state === 'draining' || l.state === 'destroying') {
    o.report?.(`Destroying the machine (lease ${l.id}, ${l.drainReason ?? 'policy'}); waiting until ${l.provider} confirms it is gone…`);
    l = await manager.settle(l.id, { pollMs: o.pollMs ?? 5_000, maxSteps: o.maxSteps ?? 120 });
  }
  if (l.cost) o.report?.(`Machine ${l.state}: ${l.provider} ${l.instanceId ?? ''} cost $${l.cost.actual.toFixed(2)} (${Math.round(l.cost.seconds / 60)} min at $${(l.cost.pricePerHour ?? 0).toFixed(2)}/h, launch → gone).`);
  return l;
}
