import path from 'node:path';
import * as vscode from 'vscode';
import type { Job } from '../../core/jobs/schema';
import { readSnapshotFile, repoRootOf } from '../../core/snapshots/git-snapshot';
import { recordJobSnapshot, snapshotFilesOf } from '../../core/snapshots/record';
import type { ExtensionServices } from '../services';
import { snapshotsEnabled } from './settings';

const SCHEME = 'cloudtraining-snapshot';

/**
 * When `cloudTraining.snapshots.enabled`, record the job's training and dataloader configs under
 * refs/cloud-training/<job> (git plumbing only: the user's tree, index and branch stay as they are)
 * and store the ref on the job. Never fails a submission: problems are logged and return undefined.
 */
export async function recordConfigSnapshot(services: ExtensionServices, job: Job): Promise<string | undefined> {
  const files = snapshotFilesOf(job);
  if (!files.length || !snapshotsEnabled(vscode.Uri.file(files[0]!))) return undefined;
  const cwd = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(files[0]!))?.uri.fsPath ?? path.dirname(files[0]!);
  const r = await recordJobSnapshot(services.history, job, { cwd });
  if (r.kind === 'recorded') {
    services.log.info(`config snapshot of ${job.id}: ${r.ref} (${r.commit.slice(0, 12)})`);
    return r.ref;
  }
  if (r.kind === 'skipped') services.log.info(`config snapshot skipped for ${job.id}: ${r.message}`);
  else services.log.warn(`config snapshot for ${job.id} failed: ${r.message}`);
  return undefined;
}

/** Read-only documents for files inside a snapshot: cloudtraining-snapshot:/<path>?<repo>#<ref>. */
class SnapshotContentProvider implements vscode.TextDocumentContentProvider {
  provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    return readSnapshotFile(decodeURIComponent(uri.query), uri.fragment, uri.path.replace(/^\//, ''));
  }
}

/**
 * `cloudTraining.recordConfigSnapshot` (job id; for the submission flow) and
 * `cloudTraining.openConfigSnapshot` (job id or tree node): shows each snapshot file beside the
 * current file as a diff, so "what did this job run with" is one click from the job.
 */
export function registerSnapshotCommands(services: ExtensionServices): void {
  const { context, history } = services;
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, new SnapshotContentProvider()),
    vscode.commands.registerCommand('cloudTraining.recordConfigSnapshot', async (jobId: string) => {
      const job = await history.get(jobId);
      return job ? recordConfigSnapshot(services, job) : undefined;
    }),
    vscode.commands.registerCommand('cloudTraining.openConfigSnapshot', async (arg?: string | { job?: Job }) => {
      let job = typeof arg === 'string' ? await history.get(arg) : arg?.job;
      if (!job) {
        const withSnap = (await history.list()).filter((j) => j.snapshotRef);
        const pick = await vscode.window.showQuickPick(withSnap.map((j) => ({ label: j.name, description: `${j.id} · ${j.snapshotRef}`, job: j })), { placeHolder: withSnap.length ? 'Config snapshot of which job?' : 'No job has a config snapshot (enable cloudTraining.snapshots.enabled)' });
        job = pick?.job;
      }
      if (!job?.snapshotRef) return void (job && vscode.window.showInformationMessage(`Job ${job.id} has no config snapshot.`));
      const files = [job.configPaths.training, job.configPaths.dataloader].filter((f): f is string => !!f);
      const repo = typeof job.metadata.snapshotRepo === 'string' ? job.metadata.snapshotRepo : await repoRootOf(path.dirname(files[0] ?? '.'));
      if (!repo) return void vscode.window.showWarningMessage(`The repository of job ${job.id}'s snapshot is gone.`);
      const inside = Array.isArray(job.metadata.snapshotFiles) ? (job.metadata.snapshotFiles as string[]) : files.map((f) => path.relative(repo, f).split(path.sep).join('/'));
      for (const rel of inside) {
        const snapUri = vscode.Uri.from({ scheme: SCHEME, path: `/${rel}`, query: encodeURIComponent(repo), fragment: job.snapshotRef });
        const current = vscode.Uri.file(path.join(repo, rel));
        await vscode.commands.executeCommand('vscode.diff', snapUri, current, `${path.basename(rel)}: job ${job.id} ↔ now`, { preview: false });
      }
    }),
  );
}
