import * as vscode from 'vscode';
import * as z from 'zod';
import { isActive, type Job } from '../../core/jobs/schema';
import type { JobViewData } from '../../../webview/shared/protocol';
import type { ExtensionServices } from '../services';
import { attachView, webviewOptions, type ViewPanel } from './panel';
import { readMetrics } from '../../core/logs/metrics';
import { readGpuSamples } from '../../core/gpu/samples';

export const JOB_DETAILS_VIEW_TYPE = 'cloudTraining.jobDetails';
/** What the page stores with vscode.setState, handed back to the serializer after a reload. */
const SavedStateSchema = z.object({ jobId: z.string().min(1) });

export interface JobDetailsActions {
  showLogs(jobId: string): Thenable<unknown>;
  cancel(jobId: string): Thenable<unknown>;
  openOutput(jobId: string, uri: string): Thenable<unknown>;
}

/**
 * One details panel per job, live while it is visible: the history (cached by mtime, so cheap to read)
 * is checked every second and changes are pushed as `update`. Panels come back after a window reload
 * through a WebviewPanelSerializer, keyed by the job id the page saved in its state.
 */
export class JobDetailsPanels implements vscode.Disposable {
  private readonly panels = new Map<string, ViewPanel<'job'>>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly services: ExtensionServices, private readonly actions: JobDetailsActions, private readonly refreshMs = 1000) {
    this.disposables.push(vscode.window.registerWebviewPanelSerializer(JOB_DETAILS_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state) => {
        const saved = SavedStateSchema.safeParse(state);
        const job = saved.success ? await services.history.get(saved.data.jobId) : undefined;
        if (!saved.success || !job) {
          services.log.info(`Not restoring a job details panel: ${saved.success ? `job ${saved.data.jobId} is no longer in the history` : 'no job id saved'}`);
          panel.dispose();
          return;
        }
        this.adopt(panel, job);
      },
    }));
  }

  async open(jobId: string): Promise<void> {
    const existing = this.panels.get(jobId);
    if (existing) {
      existing.panel.reveal();
      return;
    }
    const job = await this.services.history.get(jobId);
    if (!job) throw new Error(`No job ${jobId} in the history`);
    const panel = vscode.window.createWebviewPanel(JOB_DETAILS_VIEW_TYPE, title(job), vscode.ViewColumn.Active, webviewOptions(this.services.context.extensionUri));
    this.adopt(panel, job);
  }

  private adopt(panel: vscode.WebviewPanel, first: Job): void {
    const id = first.id;
    panel.title = title(first);
    panel.iconPath = vscode.Uri.joinPath(this.services.context.extensionUri, 'media', 'cloud-training.svg');
    let last = first;
    // Series come from the job's sidecar (not the history, which stays small): read on each push.
    const data = async (job: Job): Promise<JobViewData> => ({
      job, now: new Date().toISOString(), canCancel: isActive(job.status),
      metrics: job.logPath ? await readMetrics(job.logPath, 1000) : (job.metrics ?? []),
      gpu: job.logPath ? await readGpuSamples(job.logPath, 500) : [],
    });
    const view = attachView(this.services, panel, 'job', async () => data((last = (await this.services.history.get(id)) ?? last)));
    view.channel
      .handle('job.showLogs', async ({ jobId }) => { await this.actions.showLogs(jobId); return {}; })
      .handle('job.cancel', async ({ jobId }) => { await this.actions.cancel(jobId); return { status: (await this.services.history.get(jobId))?.status ?? 'unknown' }; })
      .handle('job.openOutput', async ({ jobId, uri }) => {
        const job = await this.services.history.get(jobId);
        // Only outputs the job really has: the page cannot make us open arbitrary URIs.
        if (!job?.outputs.some((o) => o.uri === uri)) throw new Error('That output does not belong to this job');
        await this.actions.openOutput(jobId, uri);
        return {};
      });
    this.panels.set(id, view);

    let lastStamp = stamp(first);
    const timer = setInterval(() => {
      if (!panel.visible || !view.channel.ready) return;
      void this.services.history.get(id).then((job) => {
        if (!job) return;
        const s = stamp(job);
        // Elapsed time moves on its own while active; otherwise only push real changes.
        if (s === lastStamp && !isActive(job.status)) return;
        lastStamp = s;
        last = job;
        panel.title = title(job);
        return data(job).then((d) => view.channel.update(d));
      }).then(undefined, (e) => this.services.log.warn(`Job details ${id}: ${(e as Error).message}`));
    }, this.refreshMs);
    panel.onDidDispose(() => {
      clearInterval(timer);
      this.panels.delete(id);
    });
  }

  dispose(): void {
    for (const p of [...this.panels.values()]) p.panel.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

const title = (job: Job) => `${job.name} · ${job.status}`;
const stamp = (job: Job) => `${job.updatedAt}|${job.status}`;
