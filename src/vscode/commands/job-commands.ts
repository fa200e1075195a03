import * as vscode from 'vscode';
import { jobWebUrl } from '../../core/finetune/web-url';
import { promises as fs } from 'node:fs';
import { describeDestination, needsDelivery, redeliverJob, resultsDestinationOf } from '../../core/destinations/job-delivery';
import { cancelJob } from '../../core/jobs/cancel';
import type { JobMonitor } from '../../core/jobs/monitor';
import { Job, isActive } from '../../core/jobs/schema';
import { isLocallyQueued } from '../../core/queue/schema';
import type { ExtensionServices } from '../services';
import type { JobLogChannels } from '../logs/job-log-channels';
import type { JobsModel } from '../tree/jobs-model';
import type { JobsTreeNode } from '../tree/jobs-tree-provider';
import { canDeliverResults } from '../tree/job-presentation';
import { secretLookup } from '../server/register';
import { pickResultsDestination } from '../submit/pick-destination';

/** Commands receive a tree node (context menu), a job id (CodeLens, other commands) or nothing (palette). */
type JobArg = JobsTreeNode | string | undefined;

export interface JobCommandDeps {
  services: ExtensionServices;
  model: JobsModel;
  monitor: JobMonitor;
  logs: JobLogChannels;
}

export function registerJobCommands({ services, model, monitor, logs }: JobCommandDeps): void {
  const { context, history, providers } = services;

  async function resolveJob(arg: JobArg, placeHolder: string, filter: (j: Job) => boolean = () => true): Promise<Job | undefined> {
    await model.ensureLoaded();
    if (typeof arg === 'string') return model.find(arg) ?? (await history.get(arg));
    if (arg?.kind === 'job') return model.find(arg.job.id) ?? arg.job;
    const candidates = model.all.filter(filter);
    if (!candidates.length) {
      void vscode.window.showInformationMessage('Cloud Training: no matching jobs.');
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(candidates.map((j) => ({ label: j.name, description: `${j.status} · ${j.provider}`, detail: j.id, job: j })), { placeHolder });
    return pick?.job;
  }

  const register = (id: string, fn: (...args: any[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  register('cloudTraining.refresh', async () => {
    await model.reload();
    monitor.poke();
  });

  register('cloudTraining.showLogs', async (arg: JobArg) => {
    const job = await resolveJob(arg, 'Show the log of which job?');
    if (job) logs.show(job);
  });

  register('cloudTraining.cancelJob', async (arg: JobArg) => {
    const job = await resolveJob(arg, 'Cancel which job?', (j) => isActive(j.status));
    if (!job) return;
    if (!isActive(job.status)) {
      void vscode.window.showInformationMessage(`Job "${job.name}" is already ${job.status}.`);
      return;
    }
    const answer = await vscode.window.showWarningMessage(`Cancel job "${job.name}" on ${job.provider}?`, { modal: true, detail: isLocallyQueued(job) ? 'It leaves the queue; nothing was started on the machine.' : 'The provider stops the job; you pay only for the time used.' }, 'Cancel Job');
    if (answer !== 'Cancel Job') return;
    try {
      const after = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Cancelling "${job.name}"…` },
        () => cancelJob(job, history, providers, monitor, services.layout.home));
      await model.reload();
      void vscode.window.showInformationMessage(`Job "${job.name}" is ${after?.status ?? 'cancelled'}.`);
    } catch (e) {
      void vscode.window.showErrorMessage(`Could not cancel "${job.name}": ${(e as Error).message}`);
    }
  });

  register('cloudTraining.openOutputs', async (arg: JobArg) => {
    const job = await resolveJob(arg, 'Open the outputs of which job?', (j) => j.outputs.length > 0);
    if (!job) return;
    if (!job.outputs.length) {
      void vscode.window.showInformationMessage(`Job "${job.name}" has no outputs yet.`);
      return;
    }
    const output = job.outputs.length === 1 ? job.outputs[0]! : (await vscode.window.showQuickPick(job.outputs.map((o) => ({ label: o.label ?? o.uri, description: o.kind, o })), { placeHolder: 'Which output?' }))?.o;
    if (!output) return;
    if (output.kind === 'file' || output.kind === 'directory') {
      const uri = vscode.Uri.file(output.uri);
      const stat = await fs.stat(output.uri).catch(() => undefined);
      if (!stat) void vscode.window.showErrorMessage(`The output ${output.uri} no longer exists.`);
      else if (stat.isDirectory()) await vscode.commands.executeCommand('revealFileInOS', uri);
      else await vscode.window.showTextDocument(uri);
    } else {
      // Hub outputs are full URLs (a repo or commit page); a bare `owner/name` is a repo on huggingface.co.
      const url = output.kind === 'huggingface' && !/^https?:\/\//.test(output.uri) ? `https://huggingface.co/${output.uri}` : output.uri;
      await vscode.env.openExternal(vscode.Uri.parse(url));
    }
  });

  register('cloudTraining.deliverResults', async (arg: JobArg) => {
    const job = await resolveJob(arg, 'Deliver the outputs of which job?', canDeliverResults);
    if (!job) return;
    if (!canDeliverResults(job)) {
      void vscode.window.showInformationMessage(job.provider === 'replicate'
        ? `Job "${job.name}" ran on Replicate: its trainer publishes the results itself.`
        : `Job "${job.name}" is ${job.status}: only the outputs of a succeeded job are delivered.`);
      return;
    }
    // Again to the job's destination; a job without one (or "leave them here") gets asked.
    let chosen = resultsDestinationOf(job);
    let picked = false;
    if (!needsDelivery(chosen)) {
      const answer = await pickResultsDestination(services, job.provider, `Deliver the outputs of "${job.name}"`);
      if (!answer) return;
      chosen = answer;
      picked = true;
    }
    const destination = chosen!;
    try {
      const { outcome } = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Delivering "${job.name}" to ${describeDestination(destination, job.id)}`, cancellable: true },
        (progress, token) => {
          const ac = new AbortController();
          token.onCancellationRequested(() => ac.abort());
          let last = 0;
          return redeliverJob({
            history, jobId: job.id, destination: picked ? destination : undefined, deps: { secrets: secretLookup(services) }, signal: ac.signal,
            log: (l) => services.log.info(l),
            report: (message, fraction) => {
              const increment = fraction !== undefined ? Math.max(0, (fraction - last) * 100) : undefined;
              if (fraction !== undefined) last = fraction;
              progress.report({ message, increment });
            },
          });
        },
      );
      await model.reload();
      if (outcome.delivered) void vscode.window.showInformationMessage(`Delivered the outputs of "${job.name}" to ${describeDestination(destination, job.id)}.`);
      else void vscode.window.showErrorMessage(`Cloud Training: ${outcome.error ?? 'the delivery failed'}`);
    } catch (e) {
      void vscode.window.showErrorMessage(`Cloud Training: ${(e as Error).message}`);
    }
  });

  register('cloudTraining.openInProvider', async (arg: JobArg) => {
    const job = await resolveJob(arg, 'Open which job on its provider?', (j) => jobWebUrl(j) !== undefined);
    const url = job && jobWebUrl(job);
    if (url) await vscode.env.openExternal(vscode.Uri.parse(url));
  });

  register('cloudTraining.deleteJob', async (arg: JobArg) => {
    const job = await resolveJob(arg, 'Delete which job from the history?', (j) => !isActive(j.status));
    if (!job) return;
    if (isActive(job.status)) {
      void vscode.window.showWarningMessage(`Job "${job.name}" is still ${job.status}; cancel it first.`);
      return;
    }
    const answer = await vscode.window.showWarningMessage(`Delete "${job.name}" from the job history?`, { modal: true, detail: 'Its outputs and log files stay on disk.' }, 'Delete');
    if (answer !== 'Delete') return;
    await history.remove([job.id]);
    await model.reload();
  });

  register('cloudTraining.resubmit', async (arg: JobArg) => {
    const job = await resolveJob(arg, 'Resubmit which job?');
    if (job) await vscode.commands.executeCommand('cloudTraining.submit', { resubmitOf: job.id });
  });

  register('cloudTraining.openDocs', async () => {
    await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.joinPath(context.extensionUri, 'README.md'));
  });
}
