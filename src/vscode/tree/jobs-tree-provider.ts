import * as vscode from 'vscode';
import type { GroupedJobs } from '../../core/jobs/grouping';
import type { Job } from '../../core/jobs/schema';
import { Disposable } from '../disposable';
import { jobContextValue, jobDescription, jobTooltip, providerIcon } from './job-presentation';
import type { JobsModel } from './jobs-model';
import { queuePosition } from '../../core/queue/queue';

export type JobsTreeNode = { kind: 'group'; group: GroupedJobs } | { kind: 'job'; job: Job };

/** Renders the JobsModel: status groups, then jobs. Holds no state of its own. */
export class JobsTreeProvider extends Disposable implements vscode.TreeDataProvider<JobsTreeNode> {
  private readonly changed = this._register(new vscode.EventEmitter<JobsTreeNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly model: JobsModel) {
    super();
    this._register(model.onDidChange(() => this.changed.fire(undefined)));
  }

  /**
   * One node object per group/job id, updated in place on refresh: a context-menu command that
   * arrives while the tree is being refreshed (every poll of a running job) still gets a live node.
   */
  private readonly groupNodes = new Map<string, Extract<JobsTreeNode, { kind: 'group' }>>();
  private readonly jobNodes = new Map<string, Extract<JobsTreeNode, { kind: 'job' }>>();

  async getChildren(node?: JobsTreeNode): Promise<JobsTreeNode[]> {
    if (!node) {
      await this.model.ensureLoaded();
      this.prune();
      // An empty root lets the view show its welcome content.
      return this.model.grouped.map((group) => {
        let n = this.groupNodes.get(group.id);
        if (n) n.group = group;
        else this.groupNodes.set(group.id, (n = { kind: 'group', group }));
        return n;
      });
    }
    if (node.kind === 'group') {
      return node.group.jobs.map((job) => {
        let n = this.jobNodes.get(job.id);
        if (n) n.job = job;
        else this.jobNodes.set(job.id, (n = { kind: 'job', job }));
        return n;
      });
    }
    return [];
  }

  /** Forget nodes of deleted jobs and emptied groups. */
  private prune(): void {
    const ids = new Set(this.model.all.map((j) => j.id));
    for (const id of this.jobNodes.keys()) if (!ids.has(id)) this.jobNodes.delete(id);
    const groups = new Set<string>(this.model.grouped.map((g) => g.id));
    for (const id of this.groupNodes.keys()) if (!groups.has(id)) this.groupNodes.delete(id);
  }

  getTreeItem(node: JobsTreeNode): vscode.TreeItem {
    if (node.kind === 'group') {
      const item = new vscode.TreeItem(`${node.group.label} (${node.group.jobs.length})`, node.group.id === 'running' || node.group.id === 'queued' || node.group.jobs.length <= 20
        ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
      item.id = `group:${node.group.id}`;
      item.contextValue = `group group-${node.group.id}`;
      return item;
    }
    const { job } = node;
    const item = new vscode.TreeItem(job.name, vscode.TreeItemCollapsibleState.None);
    item.id = `job:${job.id}`;
    // A job waiting in this machine's queue shows its place: "#2 · Waiting for a free slot on gpu1".
    const position = node.job.status === 'queued' ? queuePosition(job, this.model.all) : undefined;
    item.description = position !== undefined ? `#${position} · ${jobDescription(job)}` : jobDescription(job);
    item.tooltip = jobTooltip(job);
    item.iconPath = providerIcon(job);
    item.contextValue = jobContextValue(job);
    item.command = { command: 'cloudTraining.showLogs', title: 'Show Logs', arguments: [job.id] };
    return item;
  }

  getParent(node: JobsTreeNode): JobsTreeNode | undefined {
    if (node.kind === 'group') return undefined;
    const group = this.model.grouped.find((g) => g.jobs.some((j) => j.id === node.job.id));
    return group ? this.groupNodes.get(group.id) : undefined;
  }
}
