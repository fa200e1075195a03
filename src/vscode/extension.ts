import * as vscode from 'vscode';
import { JobHistory } from '../core/jobs/history';
import { JobMonitor } from '../core/jobs/monitor';
import { dataLayout, defaultDataHome, expandHome } from '../core/paths';
import { createDefaultRegistry } from '../providers/defaults';
import { registerJobCommands } from './commands/job-commands';
import { registerLocalServer, secretLookupFor } from './server/register';
import { webhookRouting } from '../core/providers/webhooks';
import { registerSubmit } from './submit/register';
import { vscodePrompter } from './prompter';
import { PROVIDER_WIRING, editorRegistryOptions } from './providers';
import { registerConfigFeatures } from './configs/register';
import { registerFinetune } from './finetune/register';
import { readSubmitSettings } from './submit/settings';
import { userPricing } from '../core/submit/settings';
import { JobLogChannels } from './logs/job-log-channels';
import type { ExtensionServices } from './services';
import { JobsStatusBar } from './status-bar';
import { JobsModel } from './tree/jobs-model';
import { JobsTreeProvider } from './tree/jobs-tree-provider';
import { createWindowNotifier } from './notifications/register';
import { createEditorQueue, registerQueueCommands } from './queue/register';

/** The folder shared with the CLI: setting, else $CLOUD_TRAINING_HOME, else ~/.cloud-training. */
function resolveDataHome(): string {
  const setting = vscode.workspace.getConfiguration('cloudTraining').get<string>('dataDirectory')?.trim();
  return setting ? expandHome(setting) : defaultDataHome();
}

/** Returns the services (and the tree provider) so extension-host tests can inspect them. */
export function activate(context: vscode.ExtensionContext): ExtensionServices & { tree: JobsTreeProvider } {
  const log = vscode.window.createOutputChannel('Cloud Training', { log: true });
  context.subscriptions.push(log);
  const layout = dataLayout(resolveDataHome());
  // Terminals opened from VS Code run `cloudtrain` against the same history.
  context.environmentVariableCollection.replace('CLOUD_TRAINING_HOME', layout.home);

  const history = new JobHistory(layout.historyDir, (w) => {
    log.warn(w.message);
    if (w.movedTo) void vscode.window.showWarningMessage(`Cloud Training: ${w.message}`);
  });
  const providers = createDefaultRegistry({
    layout,
    ...editorRegistryOptions(log),
    // Results delivery by this machine (F13): HF token and S3 secret keys from SecretStorage.
    secrets: secretLookupFor(context.secrets),
  });
  context.subscriptions.push({ dispose: () => void providers.dispose() });
  const services: ExtensionServices = { context, history, layout, providers, log };

  services.queue = createEditorQueue(services);
  const model = new JobsModel(history, log);
  const notifier = createWindowNotifier(context, history, log);
  const monitor = new JobMonitor(history, providers, {
    dataHome: layout.home,
    intervalMs: Math.max(500, vscode.workspace.getConfiguration('cloudTraining').get<number>('pollIntervalSeconds', 3) * 1000),
    log: (l) => log.info(l),
    pricing: () => userPricing(readSubmitSettings()),
    // A poll that meets an unknown host key or a locked key file asks, as a submission does.
    context: { prompter: vscodePrompter },
    notifier,
    queue: services.queue.queue,
    gpuSampleIntervalMs: Math.max(0, vscode.workspace.getConfiguration('cloudTraining').get<number>('gpuSampleSeconds', 30) * 1000),
  });
  const tree = new JobsTreeProvider(model);
  const view = vscode.window.createTreeView('cloudTraining.jobs', { treeDataProvider: tree, showCollapseAll: true });
  const logs = new JobLogChannels(model);
  const statusBar = new JobsStatusBar(model);
  context.subscriptions.push(model, monitor, tree, view, logs, statusBar);

  // Poll only while some job is active: every history change re-evaluates that.
  let firstLoad = true;
  context.subscriptions.push(model.onDidChange(() => {
    void vscode.commands.executeCommand('setContext', 'cloudTraining.hasJobs', model.all.length > 0);
    view.badge = model.activeCount ? { value: model.activeCount, tooltip: `${model.activeCount} active job(s)` } : undefined;
    if (firstLoad) { firstLoad = false; logs.reattachActive(); }
    if (model.activeCount && !monitor.active) monitor.poke();
    // Events recorded by another window or the CLI: one window (whichever claims first) shows them.
    void notifier.scan();
  }));
  void model.ensureLoaded();

  registerJobCommands({ services, model, monitor, logs });
  registerQueueCommands(services, services.queue, model);
  registerConfigFeatures(services);
  // Each provider's commands, pickers and settings (replaces registry entries built from the environment).
  for (const register of PROVIDER_WIRING) register(services);
  // Verified webhooks update jobs sooner (for providers with the capability); polling stays the fallback.
  const webhooks = webhookRouting(providers, { history, dataHome: layout.home, log: (l) => log.info(l) });
  const server = registerLocalServer(services, webhooks.secret);
  server.setWebhookHandler(webhooks.handle);
  registerSubmit(services);
  // Fine-tune JSONL datasets: diagnostics, CodeLens, Fine-tune… (Together AI, Fireworks).
  registerFinetune(services);
  log.info(`Cloud Training active; job history in ${history.file}`);
  return { ...services, tree };
}

export function deactivate(): void {
  // Everything is in context.subscriptions; detached jobs keep running without us.
}
