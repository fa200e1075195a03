import * as vscode from 'vscode';
import { isActive } from '../core/jobs/schema';
import { isLocallyQueued } from '../core/queue/schema';
import { spendingTotals } from '../core/cost/spending';
import { usd } from '../core/format';
import { Disposable } from './disposable';
import type { JobsModel } from './tree/jobs-model';

/** "$(cloud) 2 running · $1.23 today" — click to reveal the jobs view. */
export class JobsStatusBar extends Disposable {
  private readonly item = this._register(vscode.window.createStatusBarItem('cloudTraining.status', vscode.StatusBarAlignment.Left, 50));

  constructor(private readonly model: JobsModel) {
    super();
    this.item.name = 'Cloud Training';
    this.item.command = 'cloudTraining.jobs.focus';
    this._register(model.onDidChange(() => this.render()));
  }

  render(): void {
    const jobs = this.model.all;
    // Jobs waiting in this machine's queue are not running yet: "1 running · 2 queued".
    const waiting = jobs.filter(isLocallyQueued).length;
    const running = jobs.filter((j) => isActive(j.status)).length - waiting;
    // The same figure the daily spending limit uses (local calendar day, running jobs' estimates included).
    const spend = spendingTotals(jobs).day;
    if (!running && !waiting && !spend) {
      this.item.hide();
      return;
    }
    this.item.text = `$(${running ? 'sync~spin' : 'cloud'}) ${running} running${waiting ? ` · ${waiting} queued` : ''}${spend ? ` · ${usd(spend)} today` : ''}`;
    this.item.tooltip = `Cloud Training: ${running} active job(s); spent ${usd(spend)} today`;
    this.item.show();
  }
}
