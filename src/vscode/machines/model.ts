/**
 * The Machines view's model: what each row says, from leases and orphans. No vscode import, so it
 * is unit-tested on its own (test/unit/leases/machines-model.test.ts); register.ts renders it.
 */
import type { CloudInstance, CloudProviderId } from '../../core/cloud/driver';
import { formatDuration } from '../../core/format';
import type { Lease, TeardownPolicy } from '../../core/leases/schema';

// Same as schema.ts's isLive, without loading the zod schemas at activation.
const LIVE: readonly Lease['state'][] = ['intent', 'launching', 'active', 'draining', 'destroying'];
const isLive = (l: Lease) => LIVE.includes(l.state);

export type Orphan = CloudInstance & { provider: CloudProviderId };

export interface MachineRow {
  /** Stable tree id. */
  id: string;
  kind: 'lease' | 'orphan' | 'error';
  label: string;
  description: string;
  tooltip: string;
  /** Space-separated words for `when` clauses: machine, lease, live, canKeep, canSsh, orphan. */
  contextValue: string;
  /** Shown with a warning icon (orphans, failed destroys, accounts that could not be listed). */
  warning: boolean;
  state?: Lease['state'];
  leaseId?: string;
  provider?: CloudProviderId;
  instanceId?: string;
}

/** Leases that ended longer ago than this are no longer listed (they stay in `cloudtrain machines --all`). */
export const ENDED_VISIBLE_MS = 3600_000;

export function policyText(p: TeardownPolicy): string {
  return p.kind === 'destroy' ? 'destroy when the job ends' : p.kind === 'idle' ? `keep ${p.minutes} min idle` : 'keep';
}

/** Hours billed so far: from the launch call until gone (or now). */
export function costSoFar(l: Lease, now: number): number | undefined {
  if (l.cost) return l.cost.actual;
  if (l.pricePerHour === undefined || !l.launchStartedAt) return undefined;
  return l.pricePerHour * Math.max(0, now - Date.parse(l.launchStartedAt)) / 3600_000;
}

/** The machines billing now (anything launched and not confirmed gone) and their summed hourly price. */
export function burnRate(leases: readonly Lease[], orphans: readonly Orphan[] = []): { perHour: number; machines: number; unpriced: number } {
  let perHour = 0; let machines = 0; let unpriced = 0;
  for (const l of leases) {
    if (!isLive(l) || l.state === 'intent') continue;
    machines++;
    if (l.pricePerHour === undefined) unpriced++; else perHour += l.pricePerHour;
  }
  for (const o of orphans) {
    machines++;
    if (o.pricePerHour === undefined) unpriced++; else perHour += o.pricePerHour;
  }
  return { perHour, machines, unpriced };
}

export function statusBarText(b: ReturnType<typeof burnRate>): string | undefined {
  if (!b.machines) return undefined;
  return `$(server-process) ${b.machines} machine${b.machines === 1 ? '' : 's'} · $${b.perHour.toFixed(2)}/h${b.unpriced ? '+' : ''}`;
}

export function leaseRow(l: Lease, now: number): MachineRow {
  const since = l.launchStartedAt ? Date.parse(l.launchStartedAt) : Date.parse(l.createdAt);
  const end = l.goneAt ? Date.parse(l.goneAt) : now;
  const age = formatDuration(Math.max(0, (end - since) / 1000));
  const cost = costSoFar(l, now);
  const price = l.pricePerHour !== undefined ? `$${l.pricePerHour.toFixed(2)}/h` : 'price unknown';
  const live = isLive(l);
  const failingDestroy = live && l.destroyAttempts > 0;
  const words = ['machine', 'lease'];
  if (live) words.push('live');
  if (l.state === 'active') words.push('canKeep');
  if (l.state === 'active' && l.host) words.push('canSsh');
  const stateText = l.state === 'active' && l.idleSince && l.policy.kind === 'idle' ? `idle since ${new Date(l.idleSince).toISOString().slice(11, 16)}Z` : l.state;
  return {
    id: `lease:${l.id}`, kind: 'lease', leaseId: l.id, provider: l.provider, instanceId: l.instanceId, state: l.state,
    label: `${l.gpu} · ${l.provider}`,
    description: [stateText, age, price, cost !== undefined ? `$${cost.toFixed(2)} ${l.cost ? 'total' : 'so far'}` : undefined, policyText(l.policy)].filter(Boolean).join(' · '),
    tooltip: [
      `Lease ${l.id} (${l.name})`, `${l.provider} ${l.instanceId ?? '(no instance id yet)'}${l.region ? ` in ${l.region}` : ''}`,
      `State: ${l.state}${l.drainReason ? ` (${l.drainReason})` : ''}`, `GPU: ${l.gpu}`, `Price: ${price}`,
      cost !== undefined ? `${l.cost ? 'Cost (launch → gone)' : 'Cost so far'}: $${cost.toFixed(2)} over ${age}` : undefined,
      `Teardown: ${policyText(l.policy)}`, l.host ? `SSH: ${l.sshUser ?? ''}@${l.host}:${l.port ?? 22}` : undefined,
      l.jobIds.length ? `Jobs: ${l.jobIds.join(', ')}` : undefined, l.lastError ? `Last error: ${l.lastError}` : undefined,
    ].filter(Boolean).join('\n'),
    contextValue: words.join(' '),
    warning: failingDestroy,
  };
}

export function orphanRow(o: Orphan): MachineRow {
  const price = o.pricePerHour !== undefined ? `$${o.pricePerHour.toFixed(2)}/h` : 'price unknown';
  return {
    id: `orphan:${o.provider}:${o.id}`, kind: 'orphan', provider: o.provider, instanceId: o.id,
    label: `Orphan: ${o.name}`,
    description: `${o.provider} · ${o.providerState} · ${price} · in no lease`,
    tooltip: `${o.provider} instance ${o.id} "${o.name}" is named by Cloud Training but no lease knows it (a crash, another computer, or a lost history). It bills ${price} until destroyed.`,
    contextValue: 'machine orphan',
    warning: true,
  };
}

/** Every row, in order: live leases (newest first), orphans, recently ended leases, then account errors. */
export function machineRows(leases: readonly Lease[], orphans: readonly Orphan[], errors: readonly string[], now: number): MachineRow[] {
  const newest = (a: Lease, b: Lease) => Date.parse(b.createdAt) - Date.parse(a.createdAt);
  const live = leases.filter(isLive).sort(newest).map((l) => leaseRow(l, now));
  const ended = leases.filter((l) => !isLive(l) && l.goneAt && now - Date.parse(l.goneAt) < ENDED_VISIBLE_MS).sort(newest).map((l) => leaseRow(l, now));
  const errs = errors.map((e, i): MachineRow => ({ id: `error:${i}`, kind: 'error', label: 'Account not checked', description: e, tooltip: e, contextValue: 'machineError', warning: true }));
  return [...live, ...orphans.map(orphanRow), ...ended, ...errs];
}
