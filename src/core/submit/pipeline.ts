import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { JobHistory } from '../jobs/history';
import { newJob } from '../jobs/factory';
import { JobSchema, type ConsentRecord, type Job, type ProviderId } from '../jobs/schema';
import type { DataLayout } from '../paths';
import { ConsentRefusedError, decideConsent, type ConsentAnswer, type ConsentPolicy } from '../consent/policy';
import type { ConsentMemory } from '../consent/memory';
import type { ConsentSummary } from '../consent/summary';
import { estimateCost, type CostEstimate } from '../cost/estimate';
import { checkSpendingLimits, limitErrorForProviderPrice, limitHeadroom, PriceAboveLimitError, SpendingLimitError, type LimitCheck, type SpendingLimits } from '../cost/limits';
import { withProviderEstimate } from '../cost/provider-price';
import type { UserPricing } from '../cost/prices';
import type { ProviderRegistry } from '../providers/registry';
import type { Prompter, SubmitRequest, SubmitResult, TrainingProvider } from '../providers/types';
import { destinationFor } from './destination';
import { asQueued, mustWait, type QueueRequest } from '../queue/queue';
import { queueTargetOf } from '../queue/schema';
import type { DataPlan } from './data-route';
import { SubmitError, type ConfigReader, type FolderSummary, type PackageInfo, type Packager, type SubmitStep, type TrainingConfigInfo } from './steps';

export interface SubmitInput {
  provider: ProviderId;
  hardware?: string;
  trainingConfigPath?: string;
  /** Given directly (CodeLens on a dataloader file) or found through the training config. */
  dataloaderConfigPath?: string;
  command?: string;
  cwd?: string;
  env?: Record<string, string>;
  name?: string;
  /** Overrides max_train_steps for the estimate. */
  steps?: number;
  workspace?: string;
  options?: Record<string, unknown>;
  /** This machine's queue (local, SSH targets): priority, `after` (start once that job succeeded), capacity override. */
  queue?: QueueRequest;
  /**
   * Submissions that send files as they are, with an estimate not made from hours (managed fine-tunes:
   * the JSONL files, priced per token): what consent lists and what the cost step shows, computed by
   * the caller (core/finetune/plan.ts). No package is built; limits, confirmation, the history entry
   * and the provider call are the same as for every other submission.
   */
  prepared?: {
    consent: ConsentSummary; estimate: CostEstimate;
    /**
     * Our price table does not know this job's price (Together): the provider is told what the spending
     * limits leave (`SubmitRequest.maxCostUsd`) and checks its own estimate before creating the job.
     */
    priceUnknown?: boolean;
  };
}

export interface SubmitDeps {
  history: JobHistory;
  layout: DataLayout;
  providers: ProviderRegistry;
  config: ConfigReader;
  /** Needed only for providers that upload data. */
  packager?: Packager;
  consent: {
    policy: ConsentPolicy;
    memory: ConsentMemory;
    ask(summary: ConsentSummary, signal?: AbortSignal): Promise<ConsentAnswer>;
  };
  limits: SpendingLimits;
  pricing?: UserPricing;
  /** Shows the estimate (cost webview / terminal); false = the person cancelled. Absent = no confirmation. */
  confirmCost?(estimate: CostEstimate, limits: LimitCheck, signal?: AbortSignal): Promise<boolean>;
  prompter?: Prompter;
  /** Called as each step starts (progress UI; tests use it to cancel at a given step). */
  onStep?(step: SubmitStep, message?: string, fraction?: number): void;
  log?(line: string): void;
  now?: () => Date;
  /** Present: jobs for a full target (this machine, an SSH host) are queued here (src/core/queue/). */
  queue?: { capacity(target: string, provider: ProviderId, hardware: string | undefined): Promise<number> };
}

export interface SubmitOutcome {
  job: Job;
  estimate: CostEstimate;
  consent: ConsentRecord;
  package?: PackageInfo;
}

/**
 * The Submit pipeline shared by the extension and the CLI:
 * provider → config → package → consent → estimate → limits → confirm → create job → provider.submit → record.
 *
 * Every step honours `signal`. Until the provider has accepted the job, a cancellation or failure
 * removes everything this submission created (history entry, log file, job folder, a freshly built
 * package) and throws a SubmitError naming the step. Once the provider accepted it, the job is real
 * and is always recorded, even if the signal fires afterwards.
 *
 * With `deps.queue`, a job for a target that has a queue here (this machine, an SSH host) and no free
 * slot is recorded as queued (src/core/queue/) instead of being handed to the provider.
 */
export async function submitJob(input: SubmitInput, deps: SubmitDeps, signal?: AbortSignal): Promise<SubmitOutcome> {
  return (await submitBatch([input], deps, signal))[0]!;
}

interface Prepared {
  input: SubmitInput;
  provider: TrainingProvider;
  cfg: TrainingConfigInfo;
  dataloader: string | undefined;
  pkg?: PackageInfo;
  synced?: FolderSummary;
  plan?: DataPlan;
  hardware?: string;
  estimate?: CostEstimate;
}

/**
 * Several configs to one provider and target: each is configured and packaged, then consent is asked
 * ONCE for everything the batch sends, the cost is confirmed once for the batch total, and the total is
 * checked against the spending limits; then the jobs are created (queued where the target is full) in
 * the order given. A failure while creating or starting one stops the batch: the jobs before it stay
 * (they are real), the error (SubmitError) carries them in `submitted`.
 */
export async function submitBatch(inputs: readonly SubmitInput[], deps: SubmitDeps, signal?: AbortSignal): Promise<SubmitOutcome[]> {
  if (!inputs.length) throw new Error('Nothing to submit');
  let step: SubmitStep = 'provider';
  const pkgs: PackageInfo[] = [];
  let created: Job | undefined;
  let accepted = false;
  const done: SubmitOutcome[] = [];
  const enter = (s: SubmitStep, checkAbort = true) => {
    step = s;
    deps.onStep?.(s);
    if (checkAbort) signal?.throwIfAborted();
  };
  try {
    const prepared: Prepared[] = [];
    for (const input of inputs) {
      enter('provider');
      if (input.provider !== inputs[0]!.provider || input.hardware !== inputs[0]!.hardware) throw new Error('A batch goes to one provider and target: give the same provider and hardware for every config');
      const provider = deps.providers.get(input.provider);
      const uploads = provider.capabilities.uploadsData;

      enter('config');
      const cfg: TrainingConfigInfo = input.trainingConfigPath ? await deps.config.read(input.trainingConfigPath) : {};
      const dataloader = input.dataloaderConfigPath ?? cfg.dataloaderPath;
      signal?.throwIfAborted();

      // Policy "never" refuses before any packaging work is done.
      if (uploads && deps.consent.policy === 'never') {
        enter('consent');
        throw new ConsentRefusedError(provider.displayName);
      }

      enter('package');
      const p: Prepared = { input, provider, cfg, dataloader };
      if (input.prepared) {
        // Nothing to package: the files go as they are (listed in input.prepared.consent).
      } else if (uploads && provider.foldersToSync && deps.packager?.summarizeFolders) {
        // Folder-syncing providers send the datasets as they are: list them, build no zip.
        const folders = await provider.foldersToSync({ ...requestBase(input, dataloader) }, input.workspace);
        p.synced = await deps.packager.summarizeFolders({ folders, signal, onProgress: (m, f) => deps.onStep?.('package', m, f) });
        signal?.throwIfAborted();
      } else if (uploads && dataloader) {
        if (!deps.packager) throw new Error('packaging is not available in this build');
        p.pkg = await deps.packager.build({
          trainingConfigPath: input.trainingConfigPath, dataloaderConfigPath: dataloader, cacheDir: deps.layout.cacheDir, signal,
          onProgress: (m, f) => deps.onStep?.('package', m, f),
        });
        pkgs.push(p.pkg);
        signal?.throwIfAborted();
      }

      // How the data reaches the trainer is decided now, before consent and before any upload: a
      // submission whose datasets the trainer could not read is refused here (DataRouteRefusedError).
      if (uploads && p.pkg && provider.planData) {
        p.plan = await provider.planData({ ...requestBase(input, dataloader), packagePath: p.pkg.zipPath, packageId: p.pkg.sha256 }, {
          cacheDir: deps.layout.cacheDir, signal, report: (m, f) => deps.onStep?.('package', m, f),
        });
        signal?.throwIfAborted();
      }
      prepared.push(p);
    }

    enter('consent');
    const first = prepared[0]!;
    const summaries = prepared.map((p) => p.input.prepared?.consent ?? consentSummary(p.input, p.provider, p.pkg ?? p.synced, p.plan));
    const consent = await decideConsent({
      policy: deps.consent.policy,
      uploadsData: first.provider.capabilities.uploadsData,
      summary: summaries.length === 1 ? summaries[0]! : mergeSummaries(summaries),
      workspace: first.input.workspace,
      memory: deps.consent.memory,
      ask: deps.consent.ask,
      signal,
      now: deps.now,
    });

    enter('estimate');
    const jobs = await deps.history.list();
    const hardware = first.input.hardware ?? (await first.provider.listHardware())[0]?.id;
    for (const p of prepared) {
      p.hardware = hardware;
      p.estimate = p.input.prepared?.estimate ?? estimateCost({
        provider: p.input.provider, hardware, steps: p.input.steps, configSteps: p.cfg.maxTrainSteps, history: jobs, pricing: deps.pricing, now: deps.now?.(),
      });
    }
    const estimates = prepared.map((p) => p.estimate!);
    const total = estimates.length === 1 ? estimates[0]! : batchEstimate(estimates);

    enter('limits');
    const limits = checkSpendingLimits(deps.limits, jobs, first.input.provider, total.cost.expected, deps.now?.(), deps.pricing);
    if (!limits.ok) throw new SpendingLimitError(limits);

    enter('confirm');
    if (deps.confirmCost && !(await deps.confirmCost(total, limits, signal))) throw new DOMException('The cost was not confirmed', 'AbortError');
    signal?.throwIfAborted();

    const target = deps.queue ? queueTargetOf(first.input.provider, hardware) : undefined;
    for (const p of prepared) {
      const { input, provider, pkg, plan, dataloader } = p;
      const estimate = p.estimate!;
      created = undefined;
      accepted = false;
      enter('create');
      const job = newJob(deps.layout, {
        provider: input.provider,
        name: input.name,
        hardware,
        workspace: input.workspace,
        trainingConfig: input.trainingConfigPath,
        dataloaderConfig: dataloader,
        submission: { hardware, command: input.command, cwd: input.cwd, steps: input.steps, options: input.options },
      }, deps.now?.());
      job.consent = consent;
      job.cost = {
        currency: 'USD', hardware: estimate.hardware, pricePerHour: estimate.pricePerHour,
        estimate: { low: estimate.cost.low, expected: estimate.cost.expected, high: estimate.cost.high, basis: estimate.basisText },
      };
      // packageId: the manifest's sha256 (the package's identity), not the zip's bytes.
      if (pkg) job.metadata = { packageId: pkg.sha256, packageBytes: pkg.zipBytes, ...(plan ? { dataRoute: plan.summary.route } : {}) };
      const request: SubmitRequest = { ...requestBase(input, dataloader), hardware, packagePath: pkg?.zipPath, packageId: pkg?.sha256, dataPlan: plan };
      // The target's capacity is looked up before the lock (it may ask the machine); the decision is
      // taken under it, with the insert, so two submissions cannot both take the last slot.
      const capacity = target ? (input.queue?.capacity ?? await deps.queue!.capacity(target, input.provider, hardware)) : undefined;
      const valid = JobSchema.parse(job);
      let queued: Job | undefined;
      // Limits again, atomically with the insert: another window or terminal may have started a job
      // while the cost view was open, and two submissions must not both slip under a limit.
      await deps.history.transact((current) => {
        const again = checkSpendingLimits(deps.limits, current, input.provider, estimate.cost.expected, deps.now?.(), deps.pricing);
        if (!again.ok) throw new SpendingLimitError(again);
        if (target && mustWait(current, target, capacity!, input.queue?.after)) {
          queued = asQueued(valid, target, request, input.queue, deps.now?.());
          return [queued, ...current];
        }
        return [valid, ...current];
      });
      created = queued ?? valid;
      if (queued) {
        // Recorded and waiting: whichever window or CLI process sees a free slot first starts it.
        accepted = true;
        deps.log?.(`${queued.name}: ${target === 'local' ? 'this machine' : target} is busy; queued`);
        done.push({ job: queued, estimate, consent, package: pkg });
        continue;
      }
      signal?.throwIfAborted();

      enter('submit');
      const maxCostUsd = input.prepared?.priceUnknown
        ? limitHeadroom(deps.limits, await deps.history.list(), input.provider, deps.now?.(), deps.pricing) : undefined;
      let result: SubmitResult;
      try {
        result = await provider.submit(created, { ...request, ...(maxCostUsd !== undefined ? { maxCostUsd } : {}) }, {
          signal, dataHome: deps.layout.home, prompter: deps.prompter, log: deps.log,
          report: (m, f) => deps.onStep?.('submit', m, f),
        });
      } catch (e) {
        if (e instanceof PriceAboveLimitError) throw limitErrorForProviderPrice(e, deps.limits, await deps.history.list(), input.provider, deps.now?.(), deps.pricing);
        throw e;
      }
      accepted = true; // from here on the job exists at the provider: never delete it

      enter('record', false);
      const recorded = await deps.history.update(created.id, (j) => withProviderEstimate({
        ...j,
        status: result.status,
        providerJobId: result.providerJobId,
        providerStatus: result.providerStatus,
        startedAt: result.startedAt ?? j.startedAt,
        metadata: { ...j.metadata, ...result.metadata },
      }, result.metadata));
      if (!recorded) throw new Error(`job ${created.id} disappeared from the history while it was being started`);
      done.push({ job: recorded, estimate, consent, package: pkg });
    }
    return done;
  } catch (e) {
    // After acceptance the job is real (only saving its answer failed): keep the entry so it can be tracked.
    if (!accepted) {
      // Packages of jobs already submitted in this batch are theirs now.
      const used = new Set(done.map((d) => d.package?.zipPath));
      await cleanUp(deps, created, pkgs.filter((p) => !used.has(p.zipPath)));
    }
    const err = e instanceof SpendingLimitError ? e : new SubmitError(step, !accepted && (isAbort(e) || Boolean(signal?.aborted)), e);
    if (inputs.length > 1) (err as Error & { submitted?: Job[] }).submitted = done.map((d) => d.job);
    throw err;
  }
}

/** The batch as one estimate for the cost view: ranges and steps summed, the first job's price and hardware. */
function batchEstimate(estimates: readonly CostEstimate[]): CostEstimate {
  const sum = (f: (e: CostEstimate) => number) => estimates.reduce((n, e) => n + f(e), 0);
  const first = estimates[0]!;
  return {
    ...first,
    steps: sum((e) => e.steps),
    durationSeconds: { low: sum((e) => e.durationSeconds.low), expected: sum((e) => e.durationSeconds.expected), high: sum((e) => e.durationSeconds.high) },
    cost: { low: sum((e) => e.cost.low), expected: sum((e) => e.cost.expected), high: sum((e) => e.cost.high) },
    basisText: `${estimates.length} jobs in one batch (total of each job's estimate). ${first.basisText}`,
  };
}

/** One consent question for the whole batch: every dataset it sends (each once), totals summed. */
function mergeSummaries(all: readonly ConsentSummary[]): ConsentSummary {
  const first = all[0]!;
  const seen = new Set<string>();
  const datasets = all.flatMap((s) => s.datasets).filter((d) => {
    const key = `${d.root}\0${d.id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const uploads = all.map((s) => s.uploadBytes).filter((b): b is number => b !== undefined);
  return {
    ...first,
    datasets,
    excluded: all.flatMap((s) => s.excluded),
    totalFiles: datasets.reduce((n, d) => n + d.files, 0),
    totalBytes: datasets.reduce((n, d) => n + d.bytes, 0),
    uploadBytes: uploads.length ? uploads.reduce((n, b) => n + b, 0) : undefined,
    reused: all.every((s) => s.reused),
    destination: `${first.destination} (${all.length} jobs)`,
  };
}

function requestBase(input: SubmitInput, dataloader: string | undefined): SubmitRequest {
  return {
    command: input.command, cwd: input.cwd, env: input.env, hardware: input.hardware,
    trainingConfigPath: input.trainingConfigPath, dataloaderConfigPath: dataloader, options: input.options,
  };
}

function isAbort(e: unknown): boolean {
  const name = (e as { name?: string })?.name;
  return name === 'AbortError' || (e as { code?: string })?.code === 'ABORT_ERR' || (e as { code?: string })?.code === 'CONSENT_DECLINED';
}

/** Undo everything a submission the provider never accepted created. Best effort: the original error matters more. */
async function cleanUp(deps: SubmitDeps, job: Job | undefined, pkgs: readonly PackageInfo[]): Promise<void> {
  const tasks: Promise<unknown>[] = [];
  if (job) {
    tasks.push(deps.history.remove([job.id]));
    if (job.logPath) tasks.push(fs.rm(job.logPath, { force: true }));
    tasks.push(fs.rm(path.join(deps.layout.jobsDir, job.id), { recursive: true, force: true }));
  }
  // A package that was already in the cache before this submission belongs to earlier jobs.
  for (const pkg of pkgs) {
    if (pkg.reused) continue;
    tasks.push(fs.rm(pkg.zipPath, { force: true }));
    // The packager's summary beside the zip (`<sha256>.json`) goes with it.
    if (pkg.zipPath.endsWith('.zip')) tasks.push(fs.rm(`${pkg.zipPath.slice(0, -4)}.json`, { force: true }));
  }
  for (const r of await Promise.allSettled(tasks)) {
    if (r.status === 'rejected') deps.log?.(`Clean-up after a failed submission: ${(r.reason as Error).message}`);
  }
}

/** `pkg`: the package to upload, or the summary of the folders a provider syncs (no zip). */
export function consentSummary(input: SubmitInput, provider: TrainingProvider, pkg: PackageInfo | FolderSummary | undefined, plan?: DataPlan): ConsentSummary {
  const where = destinationFor(input.provider, input.hardware, input.options);
  return {
    // The key "always allow" is remembered under: a route that sends the data elsewhere (a bucket, with
    // keys in the job's input) is a different destination and is asked about on its own.
    provider: plan && plan.summary.route !== 'archive' ? `${input.provider}:${plan.summary.route}` : input.provider,
    providerName: provider.displayName,
    destination: where.destination,
    afterwards: where.afterwards,
    ...sentSummary(pkg, plan),
    excluded: pkg?.excluded ?? [],
    uploadBytes: plan ? plan.bytes ?? plan.upload?.bytes ?? 0 : pkg && 'zipBytes' in pkg ? pkg.zipBytes : undefined,
    reused: pkg && 'reused' in pkg ? pkg.reused : false,
    workspace: input.workspace,
    ...(plan ? { dataRoute: plan.summary } : {}),
  };
}

/** The datasets and totals consent shows: what the route really sends (the archive route: only images), else the package. */
function sentSummary(pkg: PackageInfo | FolderSummary | undefined, plan: DataPlan | undefined): Pick<ConsentSummary, 'datasets' | 'totalFiles' | 'totalBytes'> {
  const datasets = pkg?.datasets.map((d) => ({ id: d.id, root: d.root, files: d.files, bytes: d.bytes })) ?? [];
  if (!plan?.sent) return { datasets, totalFiles: pkg?.totalFiles ?? 0, totalBytes: pkg?.totalBytes ?? 0 };
  const sent = plan.sent.map((s) => ({ id: s.id, root: datasets.find((d) => d.id === s.id)?.root ?? '', files: s.files, bytes: s.bytes }));
  return { datasets: sent, totalFiles: sent.reduce((n, d) => n + d.files, 0), totalBytes: sent.reduce((n, d) => n + d.bytes, 0) };
}
