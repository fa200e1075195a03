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
import { checkSpendingLimits, SpendingLimitError, type LimitCheck, type SpendingLimits } from '../cost/limits';
import type { UserPricing } from '../cost/prices';
import type { ProviderRegistry } from '../providers/registry';
import type { Prompter, SubmitRequest, TrainingProvider } from '../providers/types';
import { destinationFor } from './destination';
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
  /**
   * Submissions that send files as they are, with an estimate not made from hours (managed fine-tunes:
   * the JSONL files, priced per token): what consent lists and what the cost step shows, computed by
   * the caller (core/finetune/plan.ts). No package is built; limits, confirmation, the history entry
   * and the provider call are the same as for every other submission.
   */
  prepared?: { consent: ConsentSummary; estimate: CostEstimate };
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
 */
export async function submitJob(input: SubmitInput, deps: SubmitDeps, signal?: AbortSignal): Promise<SubmitOutcome> {
  let step: SubmitStep = 'provider';
  let pkg: PackageInfo | undefined;
  let created: Job | undefined;
  let accepted = false;
  const enter = (s: SubmitStep, checkAbort = true) => {
    step = s;
    deps.onStep?.(s);
    if (checkAbort) signal?.throwIfAborted();
  };
  try {
    enter('provider');
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
    let synced: FolderSummary | undefined;
    if (input.prepared) {
      // Nothing to package: the files go as they are (listed in input.prepared.consent).
    } else if (uploads && provider.foldersToSync && deps.packager?.summarizeFolders) {
      // Folder-syncing providers send the datasets as they are: list them, build no zip.
      const folders = await provider.foldersToSync({ ...requestBase(input, dataloader) }, input.workspace);
      synced = await deps.packager.summarizeFolders({ folders, signal, onProgress: (m, f) => deps.onStep?.('package', m, f) });
      signal?.throwIfAborted();
    } else if (uploads && dataloader) {
      if (!deps.packager) throw new Error('packaging is not available in this build');
      pkg = await deps.packager.build({
        trainingConfigPath: input.trainingConfigPath, dataloaderConfigPath: dataloader, cacheDir: deps.layout.cacheDir, signal,
        onProgress: (m, f) => deps.onStep?.('package', m, f),
      });
      signal?.throwIfAborted();
    }

    // How the data reaches the trainer is decided now, before consent and before any upload: a
    // submission whose datasets the trainer could not read is refused here (DataRouteRefusedError).
    let plan: DataPlan | undefined;
    if (uploads && pkg && provider.planData) {
      plan = await provider.planData({ ...requestBase(input, dataloader), packagePath: pkg.zipPath, packageId: pkg.sha256 }, {
        cacheDir: deps.layout.cacheDir, signal, report: (m, f) => deps.onStep?.('package', m, f),
      });
      signal?.throwIfAborted();
    }

    enter('consent');
    const consent = await decideConsent({
      policy: deps.consent.policy,
      uploadsData: uploads,
      summary: input.prepared?.consent ?? consentSummary(input, provider, pkg ?? synced, plan),
      workspace: input.workspace,
      memory: deps.consent.memory,
      ask: deps.consent.ask,
      signal,
      now: deps.now,
    });

    enter('estimate');
    const jobs = await deps.history.list();
    const hardware = input.hardware ?? (await provider.listHardware())[0]?.id;
    const estimate = input.prepared?.estimate ?? estimateCost({
      provider: input.provider, hardware, steps: input.steps, configSteps: cfg.maxTrainSteps, history: jobs, pricing: deps.pricing, now: deps.now?.(),
    });

    enter('limits');
    const limits = checkSpendingLimits(deps.limits, jobs, input.provider, estimate.cost.expected, deps.now?.(), deps.pricing);
    if (!limits.ok) throw new SpendingLimitError(limits);

    enter('confirm');
    if (deps.confirmCost && !(await deps.confirmCost(estimate, limits, signal))) throw new DOMException('The cost was not confirmed', 'AbortError');
    signal?.throwIfAborted();

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
    const valid = JobSchema.parse(job);
    // Limits again, atomically with the insert: another window or terminal may have started a job
    // while the cost view was open, and two submissions must not both slip under a limit.
    await deps.history.transact((current) => {
      const again = checkSpendingLimits(deps.limits, current, input.provider, estimate.cost.expected, deps.now?.(), deps.pricing);
      if (!again.ok) throw new SpendingLimitError(again);
      return [valid, ...current];
    });
    created = valid;
    signal?.throwIfAborted();

    enter('submit');
    const request: SubmitRequest = { ...requestBase(input, dataloader), hardware, packagePath: pkg?.zipPath, packageId: pkg?.sha256, dataPlan: plan };
    const result = await provider.submit(created, request, {
      signal, dataHome: deps.layout.home, prompter: deps.prompter, log: deps.log,
      report: (m, f) => deps.onStep?.('submit', m, f),
    });
    accepted = true; // from here on the job exists at the provider: never delete it

    enter('record', false);
    const recorded = await deps.history.update(created.id, (j) => ({
      ...j,
      status: result.status,
      providerJobId: result.providerJobId,
      providerStatus: result.providerStatus,
      startedAt: result.startedAt ?? j.startedAt,
      metadata: { ...j.metadata, ...result.metadata },
    }));
    if (!recorded) throw new Error(`job ${created.id} disappeared from the history while it was being started`);
    return { job: recorded, estimate, consent, package: pkg };
  } catch (e) {
    // After acceptance the job is real (only saving its answer failed): keep the entry so it can be tracked.
    if (!accepted) await cleanUp(deps, created, pkg);
    if (e instanceof SpendingLimitError) throw e;
    throw new SubmitError(step, !accepted && (isAbort(e) || Boolean(signal?.aborted)), e);
  }
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
async function cleanUp(deps: SubmitDeps, job: Job | undefined, pkg: PackageInfo | undefined): Promise<void> {
  const tasks: Promise<unknown>[] = [];
  if (job) {
    tasks.push(deps.history.remove([job.id]));
    if (job.logPath) tasks.push(fs.rm(job.logPath, { force: true }));
    tasks.push(fs.rm(path.join(deps.layout.jobsDir, job.id), { recursive: true, force: true }));
  }
  // A package that was already in the cache before this submission belongs to earlier jobs.
  if (pkg && !pkg.reused) {
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
