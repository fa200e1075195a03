import * as vscode from 'vscode';
import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import type { JobHistory } from '../../core/jobs/history';
import { GroupedJobs, groupJobs } from '../../core/jobs/grouping';
import { Job, isActive } from '../../core/jobs/schema';
import { Disposable } from '../disposable';

/**
 * The jobs tree's *model*: the current job list and its grouping, reloaded when the history file
 * changes (another window, the CLI, our own monitor). The tree provider only renders it.
 */
export class JobsModel extends Disposable {
  private jobs: Job[] = [];
  private groups: GroupedJobs[] = [];
  private loaded: Promise<void> | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;

  constructor(private readonly history: JobHistory, private readonly log: vscode.LogOutputChannel) {
    super();
    this.watchHistory();
  }

  get all(): readonly Job[] { return this.jobs; }
  get grouped(): readonly GroupedJobs[] { return this.groups; }
  get activeCount(): number { return this.jobs.filter((j) => isActive(j.status)).length; }
  find(id: string): Job | undefined { return this.jobs.find((j) => j.id === id); }

  /** Load once (first render), later calls reuse it until `reload`. */
  ensureLoaded(): Promise<void> {
    return (this.loaded ??= this.reload());
  }

  async reload(): Promise<void> {
    try {
      this.jobs = await this.history.list();
      this.groups = groupJobs(this.jobs);
    } catch (e) {
      this.log.error(`Could not read job history ${this.history.file}: ${(e as Error).message}`);
    }
    this.changed.fire();
  }

  /** Coalesce bursts of file events (atomic replace = several events) into one reload. */
  scheduleReload(delayMs = 50): void {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => void this.reload(), delayMs);
  }

  private watchHistory(): void {
    let watcher: FSWatcher | undefined;
    try {
      mkdirSync(this.history.dir, { recursive: true });
      // Watch the folder: the file itself is replaced (renamed over) on every write.
      watcher = watch(this.history.dir, (_event, name) => {
        if (!name || name === 'jobs.json') this.scheduleReload();
      });
      watcher.on('error', (e) => this.log.warn(`History watcher: ${e.message}`));
    } catch (e) {
      this.log.warn(`Cannot watch ${this.history.dir} (${(e as Error).message}); the tree refreshes on its own actions only`);
    }
    this._register({ dispose: () => { watcher?.close(); clearTimeout(this.reloadTimer); } });
  }
}
