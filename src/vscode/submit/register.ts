import * as vscode from 'vscode';
import path from 'node:path';
import { ConsentMemory } from '../../core/consent/memory';
import { ConsentRefusedError } from '../../core/consent/policy';
import { applicableLimits } from '../../core/cost/applicable';
import { estimateCost, type CostEstimate } from '../../core/cost/estimate';
import { checkSpendingLimits, SpendingLimitError, type LimitCheck, type SpendingLimits } from '../../core/cost/limits';
import { priceFor } from '../../core/cost/prices';
import { ProviderIdSchema, type Job, type ProviderId } from '../../core/jobs/schema';
import { isLocallyQueued } from '../../core/queue/schema';
import { configKind } from '../../core/submit/config-kind';
import { trainingConfigReader } from '../../core/submit/config-reader';
import type { SubmitInput } from '../../core/submit/pipeline';
import { userPricing } from '../../core/submit/settings';
import { STEP_LABELS, SubmitError } from '../../core/submit/steps';
import type { CostViewData } from '../../../webview/shared/protocol';
import { extraExcludes } from '../configs/settings';
import type { ExtensionServices } from '../services';
import { vscodePrompter } from '../prompter';
import { pickResultsDestination } from './pick-destination';

import { askConsentInPanel, confirmCostInPanel, showCostPanel } from '../webviews/decision-panels';
import { JobDetailsPanels } from '../webviews/job-details';
import { mirrorSettingsForCli, readSubmitSettings } from './settings';

/** What callers pass to cloudTraining.submit / estimateCost: a file (CodeLens, explorer), a resubmission, or nothing (palette, tree title). */
type SubmitArg = vscode.Uri | string | { resubmitOf?: string; dataloader?: string; trainingConfig?: string; uri?: vscode.Uri } | undefined;
/** Tree nodes carry the job; other callers pass its id. */
type JobArg = string | { kind?: string; job?: Job } | undefined;

/**
 * Submit… (palette, CodeLens, tree title): provider and hardware pickers, then the shared pipeline
 * (package → consent webview → cost webview → create → provider) inside a cancellable progress
 * notification, then the job's log channel. Also "Estimate Cost" and "Open Job Details".
 */
export function registerSubmit(services: ExtensionServices): void {
  const { context, history, providers, layout, log } = services;
  const details = new JobDetailsPanels(services, {
    showLogs: (id) => vscode.commands.executeCommand('cloudTraining.showLogs', id),
    cancel: (id) => vscode.commands.executeCommand('cloudTraining.cancelJob', id),
    openOutput: (_id, uri) => openOutput(uri),
  });
  context.subscriptions.push(details);
  mirrorSettingsForCli(services);

  const register = (id: string, fn: (...args: never[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  // From the explorer with several configs selected, VS Code passes (clicked uri, every selected uri).
  register('cloudTraining.submit', async (arg?: SubmitArg, selected?: unknown) => {
    // Managed fine-tunes (a .jsonl dataset, or resubmitting a Together/Fireworks job) have their own questions.
    if (await isFinetuneArg(services, arg)) return vscode.commands.executeCommand('cloudTraining.finetune', arg);
    try {
      const uris = Array.isArray(selected) ? selected.filter((u): u is vscode.Uri => u instanceof vscode.Uri) : [];
      const input = await gatherInput(services, uris.length > 1 ? uris[0] : arg);
      if (!input) return;
      // A batch: the same provider, target and command for every selected config, queued in order.
      const inputs = uris.length > 1 ? [input, ...(await Promise.all(uris.slice(1).map((u) => batchInput(input, u.fsPath))))] : [input];
      const jobs = await runSubmission(services, inputs);
      if (!jobs?.length) return;
      for (const job of jobs) {
        // Records the exact configs under refs/cloud-training/<job> when snapshots are on; never fails a submission.
        void vscode.commands.executeCommand('cloudTraining.recordConfigSnapshot', job.id).then(undefined, (e) => log.warn(`Config snapshot: ${(e as Error).message}`));
      }
      const job = jobs[0]!;
      await vscode.commands.executeCommand('cloudTraining.showLogs', job.id);
      const where = providers.get(job.provider).displayName;
      const waiting = jobs.filter(isLocallyQueued).length;
      const message = jobs.length === 1
        ? `Submitted "${job.name}" to ${where} (${isLocallyQueued(job) ? `queued: ${job.statusDetail ?? 'waiting for a free slot'}` : job.status}).`
        : `Submitted ${jobs.length} jobs to ${where}${waiting ? `: ${jobs.length - waiting} started, ${waiting} queued` : ''}.`;
      const open = await vscode.window.showInformationMessage(message, 'Open Details');
      if (open) await details.open(job.id);
    } catch (e) {
      log.error(`Submit: ${(e as Error).stack ?? e}`);
      void vscode.window.showErrorMessage(`Cloud Training: ${(e as Error).message}`);
    }
  });

  register('cloudTraining.estimateCost', async (arg?: SubmitArg) => {
    try {
      const input = await gatherInput(services, arg);
      if (!input) return;
      const settings = readSubmitSettings(input.workspace ? vscode.Uri.file(input.workspace) : undefined);
      const steps = input.trainingConfigPath ? (await trainingConfigReader(input.workspace).read(input.trainingConfigPath)).maxTrainSteps : undefined;
      const jobs = await history.list();
      const estimate = estimateCost({ provider: input.provider, hardware: input.hardware, steps: input.steps, configSteps: steps, history: jobs, pricing: userPricing(settings) });
      const check = checkSpendingLimits(settings.limits, jobs, input.provider, estimate.cost.expected);
      showCostPanel(services, costViewData(estimate, check, settings.limits, input.provider, 'info'));
    } catch (e) {
      void vscode.window.showErrorMessage(`Cloud Training: ${(e as Error).message}`);
    }
  });

  register('cloudTraining.openJobDetails', async (arg?: JobArg) => {
    let id = typeof arg === 'string' ? arg : arg?.job?.id;
    if (!id) {
      const jobs = await history.list();
      if (!jobs.length) return void vscode.window.showInformationMessage('Cloud Training: no jobs yet.');
      const pick = await vscode.window.showQuickPick(jobs.slice(0, 200).map((j) => ({ label: j.name, description: `${j.status} · ${j.provider}`, detail: j.id, id: j.id })), { placeHolder: 'Details of which job?' });
      id = pick?.id;
    }
    if (!id) return;
    try {
      await details.open(id);
    } catch (e) {
      void vscode.window.showErrorMessage(`Cloud Training: ${(e as Error).message}`);
    }
  });

  log.info(`Submit, estimate and job details ready (packages in ${layout.cacheDir})`);
}

const FINETUNE_PROVIDERS: readonly string[] = ['together', 'fireworks'];

async function isFinetuneArg(services: ExtensionServices, arg: SubmitArg): Promise<boolean> {
  if (arg instanceof vscode.Uri) return /\.jsonl$/i.test(arg.fsPath);
  if (typeof arg === 'string') return /\.jsonl$/i.test(arg);
  if (arg?.resubmitOf) {
    const old = await services.history.get(arg.resubmitOf).catch(() => undefined);
    return !!old && FINETUNE_PROVIDERS.includes(old.provider);
  }
  return false;
}

/** Ask for whatever the argument does not say: config, provider, hardware, (local) command. */
async function gatherInput(services: ExtensionServices, arg: SubmitArg): Promise<SubmitInput | undefined> {
  const { history, providers } = services;
  if (arg && typeof arg === 'object' && !(arg instanceof vscode.Uri) && arg.resubmitOf) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { resubmitInput } = require('../../providers/resubmit') as typeof import('../../providers/resubmit'); // provider code, on first use
    const { resumes: _resumes, ...input } = resubmitInput(await history.resolve(arg.resubmitOf));
    return input;
  }
  const file = await pickConfigFile(arg);
  if (!file) return undefined;
  const kind = await configKind(file);
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file));
  const workspace = folder?.uri.fsPath ?? path.dirname(path.dirname(file));

  const ids = providers.ids();
  const providerPick = await vscode.window.showQuickPick([
    ...ids.map((id) => ({ label: providers.get(id).displayName, description: id, detail: providers.get(id).capabilities.uploadsData ? 'Uploads your datasets (you will see exactly what first)' : 'Nothing leaves this machine', id })),
    // Rented machines (src/vscode/machines): launched, used over SSH, destroyed per policy.
    { label: 'New GPU machine…', description: 'Lambda · DigitalOcean · RunPod', detail: 'Rent a GPU machine for this job (hourly price from the provider); destroyed when the job ends unless you keep it', id: 'lease' },
  ], { placeHolder: 'Where should this job run?' });
  if (!providerPick) return undefined;
  if (providerPick.id === 'lease') { await vscode.commands.executeCommand('cloudTraining.machines.submitNew', file); return undefined; }
  const provider = ProviderIdSchema.parse(providerPick.id);
  const options = await providers.get(provider).listHardware();
  const settings = readSubmitSettings(vscode.Uri.file(workspace));
  let hardware = options[0]?.id;
  if (options.length > 1) {
    const pick = await vscode.window.showQuickPick(options.map((o) => ({ label: o.label, description: priceLabel(provider, o.id, o.pricePerHour, settings), detail: o.detail, id: o.id })), { placeHolder: 'Which hardware?' });
    if (!pick) return undefined;
    hardware = pick.id;
  }
  let command: string | undefined;
  if (provider === 'local') {
    command = settings.local.command;
    if (!command) {
      command = await vscode.window.showInputBox({
        prompt: 'Command that runs the training on this machine ({config}, {dataloader}, {output_dir} are filled in). Set cloudTraining.local.command to skip this question.',
        value: 'python3 train.py --config {config}', ignoreFocusOut: true,
      });
      if (!command) return undefined;
    }
  }
  const trainingConfigPath = kind === 'training' ? file : undefined;
  const dataloaderConfigPath = kind === 'dataloader' ? file : undefined;
  let providerOptions: Record<string, unknown> | undefined;
  if (provider === 'replicate') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { pickReplicateOptions } = require('./replicate-options') as typeof import('./replicate-options'); // on first use, not at activation
    const replicate = await pickReplicateOptions(services.context.globalState);
    if (!replicate) return undefined;
    providerOptions = replicate;
    if (replicate.mode !== 'trainable') {
      // The trainer publishes the weights itself: HuggingFace, S3, or this machine's endpoint.
      const results = await pickResultsDestination(services, provider);
      if (results === undefined) return undefined;
      if (results) providerOptions = { ...providerOptions, results };
    }
  }
  if (provider === 'slurm') {
    // Show the generated sbatch script and let the user edit the resources before anything happens.
    const review = await vscode.commands.executeCommand<{ options?: Record<string, unknown>; command?: string } | undefined>(
      'cloudTraining.slurm.reviewSubmission', { hardware, command, trainingConfigPath, dataloaderConfigPath, cwd: workspace });
    if (!review) return undefined;
    providerOptions = review.options;
    command = review.command ?? command;
  }
  if (provider === 'local' || provider === 'ssh' || provider === 'slurm') {
    // The outputs end up on this machine; a succeeded job's folder can also be pushed to HF or S3.
    const results = await pickResultsDestination(services, provider);
    if (results === undefined) return undefined;
    if (results) providerOptions = { ...providerOptions, results };
  }
  if ((provider === 'ssh' || provider === 'slurm') && !vscode.workspace.getConfiguration('cloudTraining.ssh').get<boolean>('useSystemSsh', true)) {
    providerOptions = { ...providerOptions, systemSsh: false };
  }
  const remoteDirectory = vscode.workspace.getConfiguration('cloudTraining.ssh').get<string>('remoteDirectory')?.trim();
  if (provider === 'ssh' && remoteDirectory) providerOptions = { ...providerOptions, remoteBaseDir: remoteDirectory };
  return {
    provider, hardware, workspace, command, options: providerOptions,
    // Local and Slurm jobs find the config's relative paths (datasets) from the workspace folder.
    cwd: provider === 'local' || provider === 'slurm' ? workspace : undefined,
    trainingConfigPath,
    dataloaderConfigPath,
  };
}

function priceLabel(provider: ProviderId, hardware: string, fromProvider: number | undefined, settings: ReturnType<typeof readSubmitSettings>): string {
  try {
    const p = priceFor(provider, hardware, userPricing(settings));
    return p.pricePerHour ? `$${p.pricePerHour.toFixed(2)}/h (checked ${p.checkedAt})` : 'free';
  } catch {
    return fromProvider !== undefined ? `$${fromProvider.toFixed(2)}/h` : '';
  }
}

async function pickConfigFile(arg: SubmitArg): Promise<string | undefined> {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (typeof arg === 'string') return arg;
  if (arg?.uri instanceof vscode.Uri) return arg.uri.fsPath;
  if (arg?.trainingConfig) return arg.trainingConfig;
  if (arg?.dataloader) return arg.dataloader;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.scheme === 'file' && /^(config\.(json|toml|env)|multidatabackend.*\.json)$/i.test(path.basename(active.fsPath))) return active.fsPath;
  const found = await vscode.workspace.findFiles('**/{config.json,config.toml,config.env,multidatabackend*.json}', '**/{node_modules,.git,output,cache}/**', 100);
  if (!found.length) {
    void vscode.window.showWarningMessage('Cloud Training: no training config (config/config.json, .toml, .env) or dataloader config (multidatabackend*.json) in this workspace.');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(found.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })).sort((a, b) => a.label.localeCompare(b.label)), { placeHolder: 'Which config do you want to train with?' });
  return pick?.uri.fsPath;
}

/** Another config of a batch: everything as picked for the first, but its own config file. */
async function batchInput(first: SubmitInput, file: string): Promise<SubmitInput> {
  const kind = await configKind(file);
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file));
  const workspace = folder?.uri.fsPath ?? path.dirname(path.dirname(file));
  return {
    ...first, workspace,
    cwd: first.cwd !== undefined ? workspace : undefined,
    trainingConfigPath: kind === 'training' ? file : undefined,
    dataloaderConfigPath: kind === 'dataloader' ? file : undefined,
  };
}

/**
 * The pipeline with the editor's UI: progress notification (cancellable), consent and cost webviews.
 * Several inputs are one batch: consent and cost asked once, the total checked against the limits.
 */
export async function runSubmission(services: ExtensionServices, inputs: SubmitInput[], finetune?: CostViewData['finetune'], adjust: (d: CostViewData) => CostViewData = (d) => d): Promise<Job[] | undefined> {
  const input = inputs[0]!;
  const settings = readSubmitSettings(input.workspace ? vscode.Uri.file(input.workspace) : undefined);
  const excludes = extraExcludes(input.workspace ? vscode.Uri.file(input.workspace) : undefined);
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Cloud Training', cancellable: true }, async (progress, token) => {
      const controller = new AbortController();
      token.onCancellationRequested(() => controller.abort(new DOMException('Cancelled by the user', 'AbortError')));
      let lastFraction = 0;
      // The pipeline and the packager (zip writer, hashing worker) load with the first submission.
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { submitBatch } = require('../../core/submit/pipeline') as typeof import('../../core/submit/pipeline');
      const { defaultPackager } = require('../../core/submit/packager') as typeof import('../../core/submit/packager');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const outcomes = await submitBatch(inputs, {
        history: services.history,
        layout: services.layout,
        providers: services.providers,
        config: trainingConfigReader(input.workspace),
        packager: defaultPackager({ workspaceRoot: input.workspace, extraExcludes: excludes }),
        consent: {
          policy: settings.uploadConsent,
          memory: new ConsentMemory(services.layout.home),
          ask: (summary, signal) => askConsentInPanel(services, summary, Boolean(input.workspace), signal),
        },
        limits: settings.limits,
        pricing: userPricing(settings),
        prompter: vscodePrompter,
        confirmCost: (estimate, check, signal) => {
          // Free jobs need no cost confirmation; a fine-tune always shows its tokens and price (even an unknown one).
          if (estimate.cost.high === 0 && !finetune) return Promise.resolve(true);
          return confirmCostInPanel(services, adjust({ ...costViewData(estimate, check, settings.limits, input.provider, 'confirm'), ...(finetune ? { finetune } : {}) }), signal);
        },
        onStep: (step, message, fraction) => {
          const increment = fraction !== undefined ? Math.max(0, (fraction - lastFraction) * 100) : undefined;
          if (fraction !== undefined) lastFraction = fraction;
          progress.report({ message: message ?? `${STEP_LABELS[step]}…`, increment });
          if (!message) lastFraction = 0;
        },
        log: (line) => services.log.info(line),
        // Local and SSH targets: a job for a full target waits under Queued and starts when a slot frees.
        queue: services.queue ? { capacity: services.queue.capacity } : undefined,
      }, controller.signal);
      return outcomes.map((o) => o.job);
    });
  } catch (e) {
    if (e instanceof SpendingLimitError || (e instanceof SubmitError && e.cause instanceof SpendingLimitError)) {
      const err = e instanceof SpendingLimitError ? e : (e as SubmitError).cause as SpendingLimitError;
      const choice = await vscode.window.showErrorMessage('Cloud Training: this job would pass a spending limit, so it was not submitted.', { modal: true, detail: err.message }, 'Open Limit Settings');
      if (choice) await vscode.commands.executeCommand('workbench.action.openSettings', 'cloudTraining.limits');
      return undefined;
    }
    if (e instanceof SubmitError && e.cause instanceof ConsentRefusedError) {
      const choice = await vscode.window.showErrorMessage(`Cloud Training: ${e.cause.message}`, 'Open Setting');
      if (choice) await vscode.commands.executeCommand('workbench.action.openSettings', 'cloudTraining.uploadConsent');
      return undefined;
    }
    if (e instanceof SubmitError && e.cancelled) {
      void vscode.window.showInformationMessage(`Cloud Training: ${e.message}`);
      return undefined;
    }
    throw e;
  }
}

export function costViewData(estimate: CostEstimate, check: LimitCheck, limits: SpendingLimits, provider: ProviderId, mode: 'confirm' | 'info'): CostViewData {
  const byProvider: Record<string, { day: number; month: number }> = {};
  for (const [k, v] of Object.entries(check.totals.byProvider)) if (v) byProvider[k] = v;
  return {
    estimate,
    spend: { day: check.totals.day, month: check.totals.month, byProvider },
    limits: { ok: check.ok, message: check.message, applicable: applicableLimits(limits, check.totals, provider) },
    mode,
  };
}

async function openOutput(uri: string): Promise<void> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith('file:')) {
    await vscode.env.openExternal(vscode.Uri.parse(uri));
    return;
  }
  const target = uri.startsWith('file:') ? vscode.Uri.parse(uri) : vscode.Uri.file(uri);
  await vscode.commands.executeCommand('revealFileInOS', target);
}

