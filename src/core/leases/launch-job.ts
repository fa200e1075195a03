import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DEFAULT_SSH_USER, type CloudDriver, type CloudProviderId } from '../cloud/driver';
import { checkSpendingLimits, SpendingLimitError, type LimitCheck, type SpendingLimits } from '../cost/limits';
import type { UserPricing } from '../cost/prices';
import type { JobHistory } from '../jobs/history';
import type { Job } from '../jobs/schema';
import { entryMatchesHost, knownHostName, parseKnownHosts } from '../ssh/known-hosts';
import { writeFileAtomic } from '../fs/atomic';
import { estimateLease, type LeaseEstimate, type Range } from './estimate';
import { LeaseError, type LeaseManager } from './manager';
import { isLive, type Lease, type TeardownPolicy } from './schema';
import { cloudInitWithHostKey, ensureLeaseKey, generateEd25519, trustHostKey } from './ssh-keys';

/**
 * "New GPU machine": the one flow the CLI (`cloudtrain submit --provider lambda|digitalocean|runpod`)
 * and the editor (Submit… → New GPU machine) share. Estimate the whole lease (provider listing) and
 * count it against the spending limits → record the intent → launch (once) → wait for active + SSH →
 * host key (DigitalOcean: the one we injected; Lambda/RunPod: the SSH provider shows the fingerprint
 * on first connect) → hand the job to the SSH provider as host `lease-<id>` → on any failure or
 * cancel before the job exists, apply the teardown policy. The end of the job is handled by
 * `enforceLeases()` (any process) and `finishLease()` (the process that follows the job).
 * No vscode here.
 */

export interface LeasedJobRequest {
  provider: CloudProviderId;
  gpu: string;
  region?: string;
  policy: TeardownPolicy;
  /** Training time range (from the job's own estimate: steps × seconds/step). */
  training: Range;
  syncBytes?: number;
}

export interface LeasedJobDeps {
  manager: LeaseManager;
  drivers: Partial<Record<CloudProviderId, CloudDriver>>;
  /** The data folder: key pair and the rented machines' known_hosts live under it (ssh/lease-hosts.ts). */
  keyDir: string;
  knownHostsFile: string;
  history: JobHistory;
  limits: SpendingLimits;
  pricing?: UserPricing;
  /** Show the estimate; false = the person declined (nothing is rented). */
  confirmEstimate?(estimate: LeaseEstimate, limits: LimitCheck): Promise<boolean>;
  /** Run the existing submit pipeline with `hardware` = the lease's SSH host name; resolves to the job. */
  submit(hardware: string, lease: Lease): Promise<Job>;
  report?(line: string): void;
  signal?: AbortSignal;
  /** Login user override (tests: the stand-in's sshd runs as the test user). */
  sshUser?: string;
  /** The user's own key (private key path; `.pub` beside it) instead of the generated pair. */
  existingKey?: string;
  pollMs?: number;
  maxPolls?: number;
  /** Settle (verified teardown) polling when the policy destroys after a failure. */
  settlePollMs?: number;
  newLeaseId?(): string;
  accountLabel?: string;
}

export interface LeasedJobOutcome { job: Job; lease: Lease; estimate: LeaseEstimate }

export const newLeaseId = (): string => `m${randomBytes(5).toString('hex')}`;

const NO_ACCOUNT_HELP: Record<CloudProviderId, string> = {
  lambda: 'set LAMBDA_API_KEY, or run "Cloud Training: Connect Cloud Account…" in the editor',
  digitalocean: 'set DIGITALOCEAN_TOKEN, or run "Cloud Training: Connect Cloud Account…" in the editor',
  runpod: 'set RUNPOD_API_KEY, or run "Cloud Training: Connect Cloud Account…" in the editor',
};

export async function launchLeasedJob(req: LeasedJobRequest, deps: LeasedJobDeps): Promise<LeasedJobOutcome> {
  const say = (l: string) => deps.report?.(l);
  const driver = deps.drivers[req.provider];
  if (!driver) throw new LeaseError(`No ${req.provider} account is connected: ${NO_ACCOUNT_HELP[req.provider]}`);

  // 1. The whole lease's cost, from the provider's own listing, against the limits. Nothing rented yet.
  const estimate = await estimateLease(driver, { gpu: req.gpu, region: req.region, training: req.training, syncBytes: req.syncBytes }, deps.signal);
  const jobs = await deps.history.list();
  const limits = checkSpendingLimits(deps.limits, jobs, 'ssh', estimate.cost.expected, new Date(), deps.pricing);
  if (!limits.ok) throw new SpendingLimitError(limits);
  if (deps.confirmEstimate && !(await deps.confirmEstimate(estimate, limits))) throw new DOMException('The lease estimate was not confirmed; nothing was rented', 'AbortError');
  deps.signal?.throwIfAborted();

  // 2. Our key, registered with the account once.
  const key = await ensureLeaseKey(deps.keyDir, deps.existingKey);
  const sshKeyRef = await driver.ensureSshKey(key.publicKey, 'cloud-training');

  // 3. The intent, recorded before the one launch call.
  const id = (deps.newLeaseId ?? newLeaseId)();
  await deps.manager.create({ id, provider: req.provider, account: deps.accountLabel ?? req.provider, gpu: req.gpu, region: estimate.region, policy: req.policy });
  const hostKey = req.provider === 'digitalocean' ? generateEd25519(`cloud-training-host-${id}`) : undefined;
  await deps.manager.annotate(id, { sshUser: deps.sshUser ?? DEFAULT_SSH_USER[req.provider], identityFile: key.privateKeyPath, hostKeyPublic: hostKey?.publicKey });

  let lease: Lease;
  try {
    say(`Launching ${estimate.gpuLabel} on ${req.provider}${estimate.region ? ` in ${estimate.region}` : ''} (lease ${id}, ${fmtUsd(estimate.pricePerHour)}/h)…`);
    await deps.manager.launch(id, { publicKey: key.publicKey, sshKeyRef, userData: hostKey ? cloudInitWithHostKey(hostKey) : undefined });
    say('Waiting for the machine to be active and for SSH to answer…');
    let last = '';
    lease = await deps.manager.waitActive(id, {
      pollMs: deps.pollMs, maxPolls: deps.maxPolls, signal: deps.signal,
      report: (m) => { if (m !== last) say(`  ${m}`); last = m; },
    });
    say(`Machine up: ${lease.host}:${lease.port} (${req.provider} ${lease.instanceId})`);
    // 4. Host key: a provider's recycled address must not match an old entry in OUR file.
    await forgetHost(deps.knownHostsFile, lease.host!, lease.port ?? 22);
    if (hostKey) {
      await trustHostKey(deps.knownHostsFile, lease.host!, lease.port ?? 22, hostKey.publicKey);
      say('Host key: the one injected through cloud-init (verified on the first connection).');
    }
    deps.signal?.throwIfAborted();
  } catch (e) {
    await applyPolicyAfterFailure(deps, id, e, say);
    throw e;
  }

  // 5. The job, through the existing SSH provider (sync, detached run, logs, download).
  let job: Job;
  try {
    job = await deps.submit(`lease-${id}`, lease);
  } catch (e) {
    await applyPolicyAfterFailure(deps, id, e, say);
    throw e;
  }
  lease = await deps.manager.jobStarted(id, job.id);
  job = await deps.history.update(job.id, (j) => ({
    ...j,
    metadata: { ...j.metadata, lease: { id, provider: req.provider, instanceId: lease.instanceId, gpu: req.gpu, policy: req.policy } },
    // The lease bills from launch to gone: that, not the SSH provider's $0, is what this job commits.
    cost: { currency: 'USD', hardware: `${req.provider} ${req.gpu}`, pricePerHour: estimate.pricePerHour, estimate: { ...estimate.cost, basis: `whole lease (boot + sync + training + download) at ${fmtUsd(estimate.pricePerHour)}/h from ${estimate.priceNote}` } },
  })) ?? job;
  return { job, lease, estimate };
}

/**
 * No job will run (launch refused, cancelled, SSH never answered, the submit failed): the policy
 * decides. `destroy` → verified teardown now; `idle` → the idle clock starts now; `keep` → kept (said).
 */
async function applyPolicyAfterFailure(deps: LeasedJobDeps, id: string, cause: unknown, say: (l: string) => void): Promise<void> {
  const l = (await deps.manager.list()).find((x) => x.id === id);
  if (!l || !isLive(l)) return; // refused launch: failed, nothing billed
  try {
    if (l.policy.kind === 'keep') {
      say(`The machine is kept (--keep): lease ${id}. Destroy it with: cloudtrain machines destroy ${id}`);
      return;
    }
    if (l.policy.kind === 'idle' && l.state === 'active') {
      await deps.manager.jobEnded(id);
      say(`The machine stays up for ${l.policy.minutes} idle minutes (lease ${id}), then it is destroyed.`);
      return;
    }
    await deps.manager.requestDestroy(id, `no job: ${(cause as Error)?.message ?? cause}`);
    say(`Destroying the machine (lease ${id}); waiting until ${l.provider} confirms it is gone…`);
    const gone = await deps.manager.settle(id, { pollMs: deps.settlePollMs ?? 5_000, maxSteps: 120 });
    say(`Machine ${gone.state}${gone.cost ? `, cost ${fmtUsd(gone.cost.actual)}` : ''}.`);
  } catch (e) {
    say(`WARNING: teardown of lease ${id} not confirmed: ${(e as Error).message}. Run: cloudtrain machines`);
  }
}

/** Drop entries for host:port from our own known_hosts file (never the user's). */
async function forgetHost(file: string, host: string, port: number): Promise<void> {
  let text: string;
  try { text = await fs.readFile(file, 'utf8'); } catch { return; }
  const name = knownHostName(host, port);
  const lines = text.split('\n');
  const drop = new Set(parseKnownHosts(text, file).filter((e) => entryMatchesHost(e, name)).map((e) => e.line));
  if (!drop.size) return;
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, lines.filter((_, i) => !drop.has(i + 1)).join('\n'));
}

const fmtUsd = (n: number) => `$${n.toFixed(2)}`;
