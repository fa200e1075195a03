import * as vscode from 'vscode';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { checkSpendingLimits } from '../../core/cost/limits';
import { PLAN_EXACT_TOKEN_BYTES, TOKEN_CHUNK_BYTES, workerRunner } from '../../core/finetune/analyzer';
import { isJsonlPath, readHead, sniffFinetuneFormat } from '../../core/finetune/detect';
import { readJobFile } from '../../core/finetune/job-file';
import { parseFinetuneOptions } from '../../core/finetune/options';
import { PRICES_AFTER_UPLOAD, type FinetunePlan } from '../../core/finetune/plan';
import { finetuneConsent, finetuneCostEstimate, finetuneCostView } from '../../core/finetune/views';
import type { FinetuneProvider } from '../../core/finetune/cost';
import type { Job } from '../../core/jobs/schema';
import type { SubmitInput } from '../../core/submit/pipeline';
import type { ExtensionServices } from '../services';
import { costViewData, runSubmission } from '../submit/register';
import { readSubmitSettings } from '../submit/settings';
import { showCostPanel } from '../webviews/decision-panels';
import type { CostViewData } from '../../../webview/shared/protocol';
import { FinetuneDatasets, JSONL_SELECTOR } from './datasets';
import {
  choicesFromJobFile, finetuneJobName, finetuneOptions, finetuneWebUrl, findJobFile, LAST_MODEL_KEY, lensModel, LORA_RANKS,
  modelPriceLabel, modelsFor, providerLabel, resumeChoice, type FinetuneChoices,
} from './flow';
import { FIREWORKS_KEY } from '../fireworks/register';
import { TOGETHER_KEY } from '../together/register';

type FinetuneArg = vscode.Uri | string | { resubmitOf?: string; uri?: vscode.Uri } | undefined;

/**
 * Managed fine-tunes in the editor (issue 17): diagnostics and CodeLens on fine-tune JSONL datasets,
 * and the Fine-tune… / Estimate / Validate commands. Submission goes through the shared pipeline
 * (consent and cost webviews, spending limits, history), so the job shows in the tree like any other.
 */
export function registerFinetune(services: ExtensionServices): void {
  const { context, log } = services;
  // Token counts for the lens use the model the person is likely to train: job file, else last choice.
  const models = new Map<string, string>();
  const modelFor = (file: string) => models.get(file) ?? context.globalState.get<string>(LAST_MODEL_KEY);
  // Analyses run in a worker thread when the bundle ships one (dist/finetune-worker.js), else in this thread (streamed, yielding).
  const workerFile = path.join(__dirname, 'finetune-worker.js');
  const runner = existsSync(workerFile) ? workerRunner(workerFile, { onBroken: (e) => log.warn(`fine-tune dataset worker: ${e.message}; checking in the extension host instead`) }) : undefined;
  if (runner) context.subscriptions.push(runner);
  const datasets = new FinetuneDatasets(log, modelFor, 400, runner);
  context.subscriptions.push(datasets, vscode.languages.registerCodeLensProvider(JSONL_SELECTOR, datasets));
  const learnModel = (doc: vscode.TextDocument) => {
    if (doc.uri.scheme !== 'file' || !isJsonlPath(doc.uri.fsPath)) return;
    const ws = vscode.workspace.getWorkspaceFolder(doc.uri)?.uri.fsPath;
    void lensModel(doc.uri.fsPath, ws, context.globalState).then((m) => {
      if (models.get(doc.uri.fsPath) === m) return;
      models.set(doc.uri.fsPath, m);
      datasets.refreshAll();
    });
  };
  context.subscriptions.push(vscode.workspace.onDidOpenTextDocument(learnModel));
  vscode.workspace.textDocuments.forEach(learnModel);

  context.subscriptions.push(
    vscode.commands.registerCommand('cloudTraining.finetune', async (arg?: FinetuneArg) => {
      try {
        const choices = await ask(services, arg);
        if (!choices) return;
        context.globalState.update(LAST_MODEL_KEY, choices.model).then(undefined, () => undefined);
        const plan = await planWithProgress(services, datasets, choices);
        if (!plan) return;
        const workspace = workspaceOf(choices.trainingFile);
        const input: SubmitInput = {
          provider: choices.provider, hardware: choices.model, workspace, name: finetuneJobName(choices),
          options: finetuneOptions(choices) as Record<string, unknown>,
          prepared: { consent: finetuneConsent(plan, workspace), estimate: finetuneCostEstimate(plan), priceUnknown: plan.cost.cost === null },
        };
        const [job] = (await runSubmission(services, [input], finetuneCostView(plan), unknownCostBlocks)) ?? [];
        if (!job) return;
        if (job.providerJobId) {
          await services.history.update(job.id, (j) => ({ ...j, metadata: { ...j.metadata, webUrl: finetuneWebUrl(choices.provider, job.providerJobId!) } }));
        }
        await vscode.commands.executeCommand('cloudTraining.showLogs', job.id);
        void vscode.window.showInformationMessage(`Submitted "${job.name}" to ${providerLabel(choices.provider)} (${job.status}).`);
        return job.id;
      } catch (e) {
        log.error(`Fine-tune: ${(e as Error).stack ?? e}`);
        void vscode.window.showErrorMessage(`Cloud Training: ${(e as Error).message}`);
      }
    }),

    vscode.commands.registerCommand('cloudTraining.finetune.estimate', async (arg?: FinetuneArg) => {
      try {
        const choices = await ask(services, arg, { estimateOnly: true });
        if (!choices) return;
        const plan = await planWithProgress(services, datasets, choices);
        if (!plan) return;
        const settings = readSubmitSettings(vscode.Uri.file(choices.trainingFile));
        const estimate = finetuneCostEstimate(plan);
        const check = checkSpendingLimits(settings.limits, await services.history.list(), choices.provider, estimate.cost.expected);
        showCostPanel(services, unknownCostBlocks({ ...costViewData(estimate, check, settings.limits, choices.provider, 'info'), finetune: finetuneCostView(plan) }));
      } catch (e) {
        void vscode.window.showErrorMessage(`Cloud Training: ${(e as Error).message}`);
      }
    }),

    vscode.commands.registerCommand('cloudTraining.finetune.validate', async (arg?: FinetuneArg) => {
      const file = await pickDataset(arg);
      if (!file) return;
      const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Validating ${path.basename(file)}…`, cancellable: true }, (_p, token) => {
        const ac = new AbortController();
        token.onCancellationRequested(() => ac.abort());
        return datasets.validateUri(vscode.Uri.file(file), ac.signal);
      });
      if (!r) return;
      const text = `${path.basename(file)}: ${r.examples.toLocaleString('en-US')} examples, ${r.lines.toLocaleString('en-US')} lines${r.format ? `, ${r.format} format` : ''}; ${r.errors ? `${r.errors.toLocaleString('en-US')} error${r.errors === 1 ? '' : 's'}` : 'no errors'}.`;
      if (r.errors) {
        if ((await vscode.window.showWarningMessage(text, 'Show Problems')) === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
      } else void vscode.window.showInformationMessage(text);
      return { examples: r.examples, errors: r.errors, format: r.format };
    }),
  );
}

/**
 * A fine-tune whose price is not in the table (Together's rates are not published where we could read
 * them) costs an unknown amount: with a spending limit set that applies to it, the limit cannot be
 * checked, so the job is blocked exactly as one over the limit is, and the cost view says why.
 */
export function unknownCostBlocks(data: CostViewData): CostViewData {
  if (!data.finetune || data.finetune.cost !== null || !data.limits.ok || data.limits.applicable.length === 0) return data;
  // Together prices the job itself once the files are there; the provider checks that against the limits.
  if (PRICES_AFTER_UPLOAD.has(data.estimate.provider)) return data;
  return {
    ...data,
    limits: { ...data.limits, ok: false, message: `No published ${data.finetune.rateKey} price for ${data.finetune.band ?? 'this model'} in the price table (checked ${data.finetune.checkedAt}), so the cost is unknown and your spending limits (${data.limits.applicable.map((l) => l.label).join(', ')}) cannot be checked. Remove the limits or pick a model with a known price.` },
  };
}

function workspaceOf(file: string): string | undefined {
  return vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file))?.uri.fsPath;
}

async function pickDataset(arg: FinetuneArg): Promise<string | undefined> {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (typeof arg === 'string') return arg;
  if (arg?.uri instanceof vscode.Uri) return arg.uri.fsPath;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.scheme === 'file' && isJsonlPath(active.fsPath)) return active.fsPath;
  const found = await vscode.workspace.findFiles('**/*.jsonl', '**/{node_modules,.git,outputs}/**', 200);
  if (!found.length) {
    void vscode.window.showWarningMessage('Cloud Training: no .jsonl dataset in this workspace.');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(found.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })).sort((a, b) => a.label.localeCompare(b.label)),
    { placeHolder: 'Which dataset (JSONL) should the model be fine-tuned on?' });
  return pick?.uri.fsPath;
}

/** The questions of Fine-tune…: job file, provider (and its key), base model, epochs, LoRA rank, validation file. */
async function ask(services: ExtensionServices, arg: FinetuneArg, opts: { estimateOnly?: boolean } = {}): Promise<FinetuneChoices | undefined> {
  if (arg && typeof arg === 'object' && !(arg instanceof vscode.Uri) && arg.resubmitOf) return askResubmit(services, await services.history.resolve(arg.resubmitOf));
  const dataset = await pickDataset(arg);
  if (!dataset) return undefined;
  const workspace = workspaceOf(dataset);
  let preset: Partial<FinetuneChoices> = { trainingFile: dataset };
  const jobFile = findJobFile(dataset, workspace);
  if (jobFile) {
    const rel = vscode.workspace.asRelativePath(jobFile);
    try {
      const job = await readJobFile(jobFile);
      const use = await vscode.window.showQuickPick([
        { label: `Use ${rel}`, description: `${job.base_model} · ${job.n_epochs} epoch${job.n_epochs === 1 ? '' : 's'}${job.lora_r ? ` · LoRA rank ${job.lora_r}` : ''}`, use: true },
        { label: 'Choose the settings now', use: false },
      ], { placeHolder: `A job file is next to the dataset (${rel})` });
      if (!use) return undefined;
      if (use.use) preset = choicesFromJobFile(job, jobFile, dataset);
    } catch (e) {
      const go = await vscode.window.showWarningMessage(`Cloud Training: ${(e as Error).message}`, 'Choose the settings now', 'Open Job File');
      if (go === 'Open Job File') return void vscode.window.showTextDocument(vscode.Uri.file(jobFile));
      if (!go) return undefined;
    }
  }

  const provider = preset.provider ?? await pickProvider(services);
  if (!provider) return undefined;
  if (!opts.estimateOnly && !(await ensureKey(services, provider))) return undefined;

  let model = preset.model;
  if (!model) {
    const last = services.context.globalState.get<string>(LAST_MODEL_KEY);
    const list = modelsFor(provider);
    const items = [...(last && !list.includes(last) && (provider === 'fireworks') === last.startsWith('accounts/') ? [last] : []), ...list]
      .map((m) => ({ label: m, description: modelPriceLabel(provider, m), picked: m === last }));
    const pick = await vscode.window.showQuickPick([...items, { label: 'Other model…', description: 'any base model the provider can fine-tune' }], { placeHolder: `Base model to fine-tune on ${providerLabel(provider)}` });
    if (!pick) return undefined;
    model = pick.label === 'Other model…'
      ? (await vscode.window.showInputBox({ prompt: `${providerLabel(provider)} model name`, ignoreFocusOut: true, validateInput: (v) => (v.trim() ? undefined : 'A model name') }))?.trim()
      : pick.label;
    if (!model) return undefined;
  }

  let epochs = preset.epochs;
  if (!epochs) {
    const v = await vscode.window.showInputBox({ prompt: 'Epochs (passes over the training file; the cost grows with each)', value: '1', ignoreFocusOut: true,
      validateInput: (s) => (/^[1-9]\d*$/.test(s.trim()) && Number(s) <= 100 ? undefined : 'A whole number from 1 to 100') });
    if (!v) return undefined;
    epochs = Number(v.trim());
  }

  const lora = preset.lora ?? true;
  let loraRank = preset.loraRank;
  if (lora && !loraRank) {
    const pick = await vscode.window.showQuickPick(LORA_RANKS.map((r) => ({ label: String(r), description: r === 16 ? 'a common default' : r > 16 ? 'more capacity, larger adapter' : 'smaller adapter', r })),
      { placeHolder: 'LoRA rank' });
    if (!pick) return undefined;
    loraRank = pick.r;
  }

  let validationFile = preset.validationFile;
  if (!jobFile || !preset.jobFile) {
    const others = (await vscode.workspace.findFiles('**/*.jsonl', '**/{node_modules,.git,outputs}/**', 100)).filter((u) => u.fsPath !== dataset);
    if (others.length) {
      const pick = await vscode.window.showQuickPick([{ label: 'No validation file', file: undefined as string | undefined },
        ...others.map((u) => ({ label: vscode.workspace.asRelativePath(u), file: u.fsPath as string | undefined }))],
      { placeHolder: 'Validation file (optional; sent too)' });
      if (!pick) return undefined;
      validationFile = pick.file;
    }
  }
  // A preference dataset trains with DPO (a job file may still say otherwise); everything else with SFT.
  const sniffed = await readHead(dataset).then(sniffFinetuneFormat, () => undefined);
  return {
    provider, model, epochs, lora, loraRank, method: preset.method ?? (sniffed?.format === 'preference' ? 'dpo' : 'sft'), learningRate: preset.learningRate,
    evaluations: validationFile ? preset.evaluations : undefined, trainingFile: dataset, validationFile, jobFile: preset.jobFile,
  };
}

async function askResubmit(services: ExtensionServices, old: Job): Promise<FinetuneChoices | undefined> {
  const provider = old.provider as FinetuneProvider;
  const o = parseFinetuneOptions(old.submission?.options, provider);
  const resume = resumeChoice(old);
  let fromCheckpoint: string | undefined;
  if (resume) {
    const pick = await vscode.window.showQuickPick([
      { label: 'Start again with the same settings', from: undefined as string | undefined },
      { label: resume.label, description: provider === 'together' ? 'from_checkpoint' : 'warmStartFrom', from: resume.fromCheckpoint as string | undefined },
    ], { placeHolder: `Resubmit "${old.name}"` });
    if (!pick) return undefined;
    fromCheckpoint = pick.from;
  }
  if (!(await ensureKey(services, provider))) return undefined;
  return {
    provider, model: o.model, epochs: o.epochs ?? 1, lora: o.lora, loraRank: o.loraRank, method: o.method, learningRate: o.learningRate,
    evaluations: o.evaluations, trainingFile: o.trainingFile, validationFile: o.validationFile, fromCheckpoint,
  };
}

async function pickProvider(services: ExtensionServices): Promise<FinetuneProvider | undefined> {
  const items = await Promise.all((['together', 'fireworks'] as const).map(async (id) => ({
    label: providerLabel(id), id,
    description: (await hasKey(services, id)) ? 'API key set' : 'no API key yet: you will be asked for one',
    detail: 'Managed fine-tuning: your JSONL files are uploaded (you will see exactly what first); billed per training token',
  })));
  return (await vscode.window.showQuickPick(items, { placeHolder: 'Which service should fine-tune the model?' }))?.id;
}

async function hasKey(services: ExtensionServices, p: FinetuneProvider): Promise<boolean> {
  const env = p === 'together' ? process.env.TOGETHER_API_KEY : process.env.FIREWORKS_API_KEY;
  return Boolean((await services.context.secrets.get(p === 'together' ? TOGETHER_KEY : FIREWORKS_KEY)) ?? env);
}

/** A key (and for Fireworks an account id) before anything is asked that depends on it. */
async function ensureKey(services: ExtensionServices, p: FinetuneProvider): Promise<boolean> {
  if (!(await hasKey(services, p))) {
    await vscode.commands.executeCommand(p === 'together' ? 'cloudTraining.together.setApiKey' : 'cloudTraining.fireworks.setApiKey');
    if (!(await hasKey(services, p))) return false;
  }
  if (p === 'fireworks' && !(vscode.workspace.getConfiguration('cloudTraining.fireworks').get<string>('accountId')?.trim() || process.env.FIREWORKS_ACCOUNT_ID)) {
    return Boolean(await vscode.commands.executeCommand<string | undefined>('cloudTraining.fireworks.setAccountId'));
  }
  return true;
}

function totalBytes(c: FinetuneChoices): number {
  return [c.trainingFile, c.validationFile].reduce((n, f) => { try { return n + (f ? statSync(f).size : 0); } catch { return n; } }, 0);
}

/** Validate and count every file (streamed, cancellable); a file with errors stops here with its diagnostics shown. */
async function planWithProgress(services: ExtensionServices, datasets: FinetuneDatasets, c: FinetuneChoices): Promise<FinetunePlan | undefined> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildFinetunePlan, DatasetInvalidError } = require('../../core/finetune/plan') as typeof import('../../core/finetune/plan');
  const plan = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Checking the dataset', cancellable: true }, async (progress, token) => {
    const ac = new AbortController();
    token.onCancellationRequested(() => ac.abort());
    let last = 0;
    try {
      return await buildFinetunePlan({
        provider: c.provider, model: c.model, trainingFile: c.trainingFile, validationFile: c.validationFile, epochs: c.epochs,
        evaluations: c.evaluations, method: c.method, lora: c.lora,
        accountId: c.provider === 'fireworks' ? vscode.workspace.getConfiguration('cloudTraining.fireworks').get<string>('accountId') || process.env.FIREWORKS_ACCOUNT_ID : undefined,
      }, {
        signal: ac.signal,
        // Exact Llama 3 counts run at 50–210 K tokens/s: a very large dataset is estimated (and the cost view says so).
        estimateTokens: totalBytes(c) > PLAN_EXACT_TOKEN_BYTES,
        tokenChunkSize: TOKEN_CHUNK_BYTES,
        onProgress: (file, p) => {
          const pct = p.totalBytes ? Math.round((p.bytesRead / p.totalBytes) * 100) : 0;
          progress.report({ message: `${path.basename(file)} ${pct}% (${p.lines.toLocaleString('en-US')} lines)`, increment: Math.max(0, pct - last) / 2 });
          last = pct;
        },
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError') return undefined;
      throw e;
    }
  });
  if (!plan) return undefined;
  const bad = plan.files.find((f) => f.errors > 0);
  if (bad) {
    // The problems as diagnostics on the file, and one message naming the first line and field.
    void datasets.validateUri(vscode.Uri.file(bad.path));
    const choice = await vscode.window.showErrorMessage(`Cloud Training: ${new DatasetInvalidError(bad).message}`, 'Show Problems', 'Open File');
    if (choice === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
    if (choice === 'Open File') {
      const line = Math.max(0, (bad.diagnostics[0]?.line ?? 1) - 1);
      void vscode.window.showTextDocument(vscode.Uri.file(bad.path), { selection: new vscode.Range(line, 0, line, 0) });
    }
    return undefined;
  }
  services.log.info(`Fine-tune plan: ${plan.files.map((f) => `${f.role} ${f.path} (${f.lines} lines, ${f.tokens} tokens)`).join('; ')}; ${plan.cost.cost ?? 'unknown'} USD`);
  return plan;
}
