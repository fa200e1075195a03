import * as vscode from 'vscode';
import { capacityResolver, configuredCapacity } from '../../core/queue/capacity';
import { JobQueue } from '../../core/queue/queue';
import { isLocallyQueued } from '../../core/queue/schema';
import type { Job } from '../../core/jobs/schema';
import { vscodePrompter } from '../prompter';
import { readSubmitSettings } from '../submit/settings';
import type { ExtensionServices } from '../services';
import type { JobsModel } from '../tree/jobs-model';
import type { JobsTreeNode } from '../tree/jobs-tree-provider';

/** This window's handle on the machine's queue (shared through the history with every other window and the CLI). */
export interface EditorQueue {
  queue: JobQueue;
  capacity: ReturnType<typeof capacityResolver>;
}

/**
 * The queue this window runs on each monitor pass (the monitor is handed `queue`): capacities from
 * the settings (`cloudTraining.local.capacity`, `cloudTraining.ssh.hostCapacity`, `…hostCapacities`),
 * else the machine's GPU count, else 1. Starts still under way when the window closes are aborted
 * before they reach the machine, and those jobs wait for the next window or `cloudtrain jobs`.
 */
export function createEditorQueue(services: ExtensionServices): EditorQueue {
  const stop = new AbortController();
  services.context.subscriptions.push({ dispose: () => stop.abort(new Error('The window closed')) });
  const log = (l: string) => services.log.info(l);
  const capacity = capacityResolver(services.providers, {
    configured: (target) => configuredCapacity(readSubmitSettings(), target),
    context: { dataHome: services.layout.home, prompter: vscodePrompter }, log,
  });
  const queue = new JobQueue(services.history, services.providers, {
    dataHome: services.layout.home, capacity, log, context: { prompter: vscodePrompter }, signal: stop.signal,
  });
  return { queue, capacity };
}

/** *Move to Top* on a queued job (tree context menu, palette). Cancel is the ordinary Cancel Job. */
export function registerQueueCommands(services: ExtensionServices, q: EditorQueue, model: JobsModel): void {
  services.context.subscriptions.push(vscode.commands.registerCommand('cloudTraining.moveToTopOfQueue', async (arg?: JobsTreeNode | string) => {
    let job: Job | undefined = typeof arg === 'string' ? await services.history.get(arg) : arg?.kind === 'job' ? arg.job : undefined;
    if (!job) {
      const waiting = model.all.filter(isLocallyQueued);
      if (!waiting.length) return void vscode.window.showInformationMessage('Cloud Training: no job is waiting in a queue.');
      job = (await vscode.window.showQuickPick(waiting.map((j) => ({ label: j.name, description: j.statusDetail, job: j })), { placeHolder: 'Move which queued job to the top?' }))?.job;
    }
    if (!job) return;
    const moved = await q.queue.moveToTop(job.id);
    if (!moved || !isLocallyQueued(moved)) return void vscode.window.showInformationMessage(`Job "${job.name}" is no longer waiting (${moved?.status ?? 'removed'}).`);
    await model.reload();
  }));
}
