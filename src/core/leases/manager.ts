import os from 'node:os';
import { CloudApiError } from '../cloud/http';
import { instanceName, type CloudDriver, type CloudInstance, type CloudProviderId, type LaunchSpec } from '../cloud/driver';
import type { LeaseStore, LeaseTx } from './store';
import { isLive, type Lease, type TeardownPolicy } from './schema';
import { sshAnswers } from './probe';

/**
 * The lease state machine (docs/leases.md): intent → launching → active → draining → destroying →
 * gone, with `failed` for launches that never produced a machine. Every transition is written to
 * leases.json under its lock BEFORE the provider call it announces, so a crash at any instant
 * leaves a record that `reconcile()` — run by any window or CLI process — can finish.
 */

export const DEFAULT_CEILING_MS = 24 * 3600_000;

export interface LeaseManagerOptions {
  store: LeaseStore;
  drivers: Partial<Record<CloudProviderId, CloudDriver>>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Loud problems (a destroy that failed, a machine that vanished). Also kept in `lastError`. */
  alert?: (lease: Lease, message: string) => void;
  /** Longest any lease may live, launch → destroy (default 24 h). */
  ceilingMs?: number;
  /** Delay before destroy attempt n+1 (default 30 s · 2^(n-1), at most 15 min). */
  destroyBackoffMs?: (attempt: number) => number;
  /** A launch with no answer from a process we cannot check is presumed crashed after this (default 10 min). */
  launchGraceMs?: number;
  /** A destroy the provider still shows after this long is sent again (default 5 min). */
  reissueDestroyMs?: number;
  /** What to do with the machine of a crashed launch once found by its tag (default adopt). */
  orphanPolicy?: 'adopt' | 'destroy';
  probe?: (host: string, port: number) => Promise<boolean>;
  /** Called once a lease ends (gone or failed) with its cost, after the lease lock is released. */
  onEnded?: (lease: Lease) => Promise<void> | void;
}

export class LeaseError extends Error {
  constructor(message: string, readonly lease?: Lease) { super(message); this.name = 'LeaseError'; }
}

export interface CreateLeaseInput {
  id: string;
  provider: CloudProviderId;
  account: string;
  gpu: string;
  region?: string;
  policy?: TeardownPolicy;
  jobId?: string;
}

export interface ReconcileReport {
  /** Leases whose state changed. */
  changed: Lease[];
  /** Instances named by us that no lease knows: billing unseen. */
  orphans: (CloudInstance & { provider: CloudProviderId })[];
  /** Accounts whose instances could not be listed: orphans there are unknown, say so. */
  errors: string[];
}

type LaunchExtras = Omit<LaunchSpec, 'leaseId' | 'name' | 'gpu' | 'region'>;

export class LeaseManager {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly me = { pid: process.pid, host: os.hostname() };
  /** Leases whose launch call this process has in flight (so our own reconcile leaves them alone). */
  private readonly launchingHere = new Set<string>();

  constructor(private readonly o: LeaseManagerOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  private iso(): string { return new Date(this.now()).toISOString(); }

  private driver(p: CloudProviderId): CloudDriver {
    const d = this.o.drivers[p];
    if (!d) throw new LeaseError(`No ${p} account is connected`);
    return d;
  }

  list(): Promise<Lease[]> { return this.o.store.list(); }

  /** Record the intent (provider, account, the name we will give the machine) before anything is rented. */
  async create(input: CreateLeaseInput): Promise<Lease> {
    return this.o.store.locked(async (tx) => {
      if (tx.get(input.id)) throw new LeaseError(`A lease ${input.id} already exists`);
      return tx.put({
        id: input.id, provider: input.provider, account: input.account, name: instanceName(input.id), gpu: input.gpu,
        region: input.region, policy: input.policy ?? { kind: 'destroy' }, state: 'intent', jobIds: input.jobId ? [input.jobId] : [],
        createdAt: this.iso(), destroyAttempts: 0,
      });
    });
  }

  /**
   * Send the ONE launch call of this lease. The claim intent → launching is written under the lock
   * first, so two processes can never both launch it, and a crash after the call leaves a
   * `launching` lease that reconcile finds by name.
   */
  async launch(id: string, extras: LaunchExtras): Promise<Lease> {
    let driver: CloudDriver | undefined;
    const claimed = await this.o.store.locked(async (tx) => {
      const l = tx.get(id);
      if (!l) throw new LeaseError(`No lease ${id}`);
      if (l.state !== 'intent') throw new LeaseError(`Lease ${id} was already launched (it is ${l.state}); a lease launches at most once`, l);
      driver = this.driver(l.provider); // before the claim: no account, no launching lease
      return tx.put({ ...l, state: 'launching', launchOwner: this.me, launchStartedAt: this.iso() });
    });
    let instanceId: string;
    this.launchingHere.add(id);
    try {
      instanceId = await driver!.launch({ ...extras, leaseId: id, name: claimed.name, gpu: claimed.gpu, region: claimed.region });
    } catch (e) {
      this.launchingHere.delete(id);
      if (e instanceof CloudApiError && e.kind === 'rate-limited') {
        // Refused before anything was created: the lease may launch again (still at most one machine).
        const back = await this.update(id, (l) => (l.state === 'launching'
          ? { ...l, state: 'intent', launchOwner: undefined, launchStartedAt: undefined, lastError: e.message }
          : { ...l, state: 'failed', goneAt: this.iso(), lastError: e.message, cost: { actual: 0, seconds: 0 } }));
        throw new LeaseError(e.message, back);
      }
      if (e instanceof CloudApiError && e.definitelyRejected) {
        // The provider refused: no machine exists, nothing is billed.
        const failed = await this.update(id, (l) => ({ ...l, state: 'failed', lastError: e.message, goneAt: this.iso(), cost: { actual: 0, seconds: 0 } }));
        await this.ended(failed);
        throw new LeaseError(e.message, failed);
      }
      // No answer: the machine may exist. Look for it by name now; reconcile keeps looking later.
      const report = await this.reconcile({ only: id, force: true });
      const after = report.changed.find((l) => l.id === id) ?? await this.o.store.get(id);
      if (after?.instanceId) return after;
      throw new LeaseError(`The launch call got no answer (${(e as Error).message}); the machine, if it was created, will be found by its name ${claimed.name} and ${this.o.orphanPolicy === 'destroy' ? 'destroyed' : 'adopted'}`, after);
    }
    this.launchingHere.delete(id);
    return this.update(id, (l) => {
      if (l.instanceId === instanceId) return l;
      // Someone gave up on this launch meanwhile (destroy requested, or it was written off): the
      // machine exists now, so it must be destroyed, never forgotten.
      if (l.state !== 'launching') return { ...l, instanceId, state: 'draining', drainReason: l.drainReason ?? `launch answered after the lease became ${l.state}` };
      return { ...l, instanceId };
    });
  }

  /** Poll until the provider reports the machine active and its SSH port answers. Bounded. */
  async waitActive(id: string, opts: { pollMs?: number; maxPolls?: number; signal?: AbortSignal; report?: (msg: string) => void } = {}): Promise<Lease> {
    const maxPolls = opts.maxPolls ?? 180;
    for (let i = 0; i < maxPolls; i++) {
      opts.signal?.throwIfAborted();
      const l = await this.o.store.get(id);
      if (!l) throw new LeaseError(`No lease ${id}`);
      if (l.state === 'active') return l;
      if (l.state !== 'launching' || !l.instanceId) throw new LeaseError(`Lease ${id} is ${l.state}${l.lastError ? `: ${l.lastError}` : ''}`, l);
      const inst = await this.driver(l.provider).get(l.instanceId);
      if (!inst || inst.state === 'gone') {
        const failed = await this.markGone(id, 'failed', 'disappeared before it became active');
        await this.ended(failed);
        throw new LeaseError(`The machine ${l.instanceId} disappeared before it became active`, failed);
      }
      opts.report?.(`${l.provider} ${l.instanceId}: ${inst.providerState}`);
      if (inst.state === 'active' && inst.host && inst.port && await (this.o.probe ?? sshAnswers)(inst.host, inst.port)) {
        return this.update(id, (x) => (x.state === 'launching' ? { ...x, state: 'active', host: inst.host, port: inst.port, pricePerHour: inst.pricePerHour ?? x.pricePerHour, activeAt: this.iso() } : x));
      }
      await this.sleep(opts.pollMs ?? 5_000);
    }
    throw new LeaseError(`Machine of lease ${id} was not ready after ${maxPolls} checks; it is still leased — destroy it or wait`);
  }

  /** A job on this machine ended (done, failed or cancelled): apply the teardown policy. */
  async jobEnded(id: string): Promise<Lease> {
    return this.update(id, (l) => {
      if (!isLive(l) || l.state === 'draining' || l.state === 'destroying') return l;
      if (l.policy.kind === 'destroy') return { ...l, state: 'draining', drainReason: 'job ended' };
      if (l.policy.kind === 'idle') return { ...l, idleSince: this.iso() };
      return l;
    });
  }

  /** A new job reuses the machine: no longer idle. */
  async jobStarted(id: string, jobId: string): Promise<Lease> {
    return this.update(id, (l) => ({ ...l, idleSince: undefined, jobIds: l.jobIds.includes(jobId) ? l.jobIds : [...l.jobIds, jobId] }));
  }

  /** Record how the machine is reached (login user, key, injected host key); no state change. */
  async annotate(id: string, patch: Pick<Partial<Lease>, 'sshUser' | 'identityFile' | 'hostKeyPublic' | 'lastError'>): Promise<Lease> {
    return this.update(id, (l) => ({ ...l, ...patch }));
  }

  async setPolicy(id: string, policy: TeardownPolicy): Promise<Lease> {
    return this.update(id, (l) => ({ ...l, policy }));
  }

  /** Ask for teardown now (the user's Destroy). The actual calls happen in reconcile/settle. */
  async requestDestroy(id: string, reason = 'destroy requested'): Promise<Lease> {
    return this.update(id, (l) => {
      if (l.state === 'intent') return { ...l, state: 'gone', goneAt: this.iso(), drainReason: reason, cost: { actual: 0, seconds: 0 } };
      if (l.state === 'launching' || l.state === 'active') return { ...l, state: 'draining', drainReason: reason };
      return l;
    });
  }

  /**
   * Take an orphan (ours by name, unknown to every lease) into a lease that is already `draining`,
   * so destroying it gets the same verified teardown, retries and alerts.
   */
  async adoptOrphanForDestroy(provider: CloudProviderId, inst: CloudInstance): Promise<Lease> {
    return this.o.store.locked(async (tx) => {
      const known = tx.all().find((l) => l.provider === provider && l.instanceId === inst.id);
      if (known) return known;
      return tx.put({
        id: `orphan-${inst.id}`, provider, account: provider, name: inst.name, gpu: inst.gpu ?? '?', region: inst.region,
        policy: { kind: 'destroy' }, state: 'draining', drainReason: 'orphan destroyed by the user', jobIds: [],
        instanceId: inst.id, pricePerHour: inst.pricePerHour, createdAt: this.iso(), destroyAttempts: 0,
      });
    });
  }

  /**
   * Drive one lease until the provider confirms it gone (or `maxSteps` is reached): the verified
   * teardown. Failed destroys are retried after their backoff; each failure is alerted.
   */
  async settle(id: string, opts: { pollMs?: number; maxSteps?: number } = {}): Promise<Lease> {
    for (let i = 0; i < (opts.maxSteps ?? 60); i++) {
      await this.reconcile({ only: id });
      const l = await this.o.store.get(id);
      if (!l || !isLive(l)) return l!;
      await this.sleep(opts.pollMs ?? 5_000);
    }
    const l = await this.o.store.get(id);
    throw new LeaseError(`Machine ${l?.instanceId ?? id} is not confirmed gone yet (${l?.state}${l?.lastError ? `: ${l.lastError}` : ''}); it will be retried by the next reconcile`, l);
  }

  /**
   * One pass over every live lease: advance it one step, enforce the ceiling and idle expiry, and
   * list our instances nobody knows (orphans). Safe to run from any number of processes at once:
   * the whole pass holds the lease lock, and every step is idempotent.
   */
  async reconcile(opts: { only?: string; force?: boolean } = {}): Promise<ReconcileReport> {
    const report = await this.o.store.locked(async (tx) => {
      const changed: Lease[] = [];
      const listed = new Map<CloudProviderId, CloudInstance[]>();
      const ours = async (p: CloudProviderId) => {
        if (!listed.has(p)) listed.set(p, await this.driver(p).listOurs());
        return listed.get(p)!;
      };
      for (const l of tx.all()) {
        if (!isLive(l) || (opts.only && l.id !== opts.only)) continue;
        try {
          const next = await this.step(l, ours, opts.force ?? false);
          if (next && next !== l) changed.push(await tx.put(next));
        } catch (e) {
          changed.push(await tx.put({ ...l, lastError: (e as Error).message }));
        }
      }
      const errors: string[] = [];
      const orphans = opts.only ? [] : await this.orphans(tx, ours, errors);
      return { changed, orphans, errors };
    });
    for (const l of report.changed) if (!isLive(l)) await this.ended(l);
    return report;
  }

  private async ended(l: Lease): Promise<void> {
    try {
      await this.o.onEnded?.(l);
    } catch (e) {
      this.o.alert?.(l, `Could not record the cost of lease ${l.id} on its jobs: ${(e as Error).message}`);
    }
  }

  private async orphans(tx: LeaseTx, ours: (p: CloudProviderId) => Promise<CloudInstance[]>, errors: string[]): Promise<ReconcileReport['orphans']> {
    const out: ReconcileReport['orphans'] = [];
    for (const p of Object.keys(this.o.drivers) as CloudProviderId[]) {
      let list: CloudInstance[];
      try {
        list = await ours(p);
      } catch (e) {
        errors.push(`Could not list ${p} instances, so machines left running there are unknown: ${(e as Error).message}`);
        continue;
      }
      for (const inst of list) {
        if (inst.state === 'gone') continue;
        const known = tx.all().some((l) => l.provider === p && (l.instanceId === inst.id || (!l.instanceId && l.name === inst.name && isLive(l))));
        if (!known) out.push({ ...inst, provider: p });
      }
    }
    return out;
  }

  private async step(l: Lease, ours: (p: CloudProviderId) => Promise<CloudInstance[]>, force: boolean): Promise<Lease | undefined> {
    const now = this.now();
    const driver = this.driver(l.provider);
    const age = l.launchStartedAt ? now - Date.parse(l.launchStartedAt) : 0;
    const ceiling = this.o.ceilingMs ?? DEFAULT_CEILING_MS;
    const overCeiling = age >= ceiling;

    switch (l.state) {
      case 'intent':
        // Never sent: nothing can be billing. An old intent is a process that died before launching.
        return now - Date.parse(l.createdAt) > (this.o.launchGraceMs ?? 600_000)
          ? { ...l, state: 'failed', goneAt: this.iso(), lastError: 'never launched', cost: { actual: 0, seconds: 0 } } : undefined;

      case 'launching': {
        if (!l.instanceId) {
          if (!force && this.inFlight(l, now)) return undefined;
          const found = (await ours(l.provider)).find((i) => i.name === l.name && i.state !== 'gone');
          // Right after a lost answer the create may still be in progress: keep looking later.
          if (!found) return force ? undefined : { ...l, state: 'failed', goneAt: this.iso(), lastError: 'the launch created no machine', cost: { actual: 0, seconds: 0 } };
          const adopted = { ...l, instanceId: found.id, pricePerHour: found.pricePerHour ?? l.pricePerHour };
          return this.o.orphanPolicy === 'destroy' ? { ...adopted, state: 'draining', drainReason: 'orphaned by a crash during launch' } : adopted;
        }
        if (overCeiling) return { ...l, state: 'draining', drainReason: `lease ceiling (${fmtH(ceiling)}) reached` };
        const inst = await driver.get(l.instanceId);
        if (!inst || inst.state === 'gone') return this.goneLease(l, 'failed', 'disappeared before it became active');
        if (inst.state === 'active' && inst.host) return { ...l, state: 'active', host: inst.host, port: inst.port, pricePerHour: inst.pricePerHour ?? l.pricePerHour, activeAt: this.iso() };
        return undefined;
      }

      case 'active': {
        if (overCeiling) return { ...l, state: 'draining', drainReason: `lease ceiling (${fmtH(ceiling)}) reached` };
        if (l.policy.kind === 'idle' && l.idleSince && now - Date.parse(l.idleSince) >= l.policy.minutes * 60_000) {
          return { ...l, state: 'draining', drainReason: `idle for ${l.policy.minutes} min` };
        }
        const inst = await driver.get(l.instanceId!);
        if (!inst || inst.state === 'gone') {
          this.o.alert?.(l, `Machine ${l.instanceId} (${l.provider}) is gone though we did not destroy it`);
          return this.goneLease(l, 'gone', 'destroyed outside Cloud Training');
        }
        return undefined;
      }

      case 'draining': {
        if (l.nextDestroyAt && now < Date.parse(l.nextDestroyAt)) return undefined;
        let instanceId = l.instanceId;
        if (!instanceId) {
          if (!force && this.inFlight(l, now)) return undefined;
          instanceId = (await ours(l.provider)).find((i) => i.name === l.name && i.state !== 'gone')?.id;
          if (!instanceId) return this.goneLease(l, 'gone', undefined);
        }
        try {
          await driver.destroy(instanceId);
        } catch (e) {
          const attempts = l.destroyAttempts + 1;
          const wait = (this.o.destroyBackoffMs ?? ((n) => Math.min(30_000 * 2 ** (n - 1), 900_000)))(attempts);
          const msg = `Destroying ${l.provider} machine ${instanceId} failed (attempt ${attempts}): ${(e as Error).message}. It is STILL BILLING; retrying in ${Math.round(wait / 1000)} s.`;
          this.o.alert?.(l, msg);
          return { ...l, instanceId, destroyAttempts: attempts, nextDestroyAt: new Date(now + wait).toISOString(), lastError: msg };
        }
        return { ...l, instanceId, state: 'destroying', destroyRequestedAt: this.iso(), nextDestroyAt: undefined };
      }

      case 'destroying': {
        const inst = await driver.get(l.instanceId!);
        if (!inst || inst.state === 'gone') return this.goneLease(l, 'gone', undefined);
        if (now - Date.parse(l.destroyRequestedAt!) > (this.o.reissueDestroyMs ?? 300_000)) {
          this.o.alert?.(l, `Machine ${l.instanceId} still exists ${fmtMin(now - Date.parse(l.destroyRequestedAt!))} after destroy; sending destroy again`);
          return { ...l, state: 'draining', drainReason: l.drainReason };
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }

  /** The launch call may still be running in a live process: leave it alone. */
  private inFlight(l: Lease, now: number): boolean {
    const started = l.launchStartedAt ? Date.parse(l.launchStartedAt) : 0;
    if (now - started > (this.o.launchGraceMs ?? 600_000)) return false;
    const o = l.launchOwner;
    if (!o) return false;
    if (o.host !== this.me.host) return true;
    if (o.pid === this.me.pid) return this.launchingHere.has(l.id);
    try { process.kill(o.pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  }

  private goneLease(l: Lease, state: 'gone' | 'failed', note: string | undefined): Lease {
    const goneAt = this.now();
    const seconds = l.launchStartedAt ? Math.max(0, (goneAt - Date.parse(l.launchStartedAt)) / 1000) : 0;
    const price = l.pricePerHour;
    return {
      ...l, state, goneAt: new Date(goneAt).toISOString(), nextDestroyAt: undefined,
      lastError: note ?? l.lastError,
      cost: { actual: price !== undefined ? Math.round(price * seconds / 3600 * 10_000) / 10_000 : 0, seconds: Math.round(seconds), pricePerHour: price },
    };
  }

  private async markGone(id: string, state: 'gone' | 'failed', note: string): Promise<Lease> {
    return this.update(id, (l) => this.goneLease(l, state, note));
  }

  private update(id: string, fn: (l: Lease) => Lease): Promise<Lease> {
    return this.o.store.locked(async (tx) => {
      const l = tx.get(id);
      if (!l) throw new LeaseError(`No lease ${id}`);
      const next = fn(l);
      return next === l ? l : tx.put(next);
    });
  }
}

const fmtH = (ms: number) => `${Math.round(ms / 3600_000 * 10) / 10} h`;
const fmtMin = (ms: number) => `${Math.round(ms / 60_000)} min`;
