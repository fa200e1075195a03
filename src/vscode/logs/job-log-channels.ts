import * as vscode from 'vscode';
import { LogTail } from '../../core/logs/tail';
import { Job, isTerminal } from '../../core/jobs/schema';
import { Disposable } from '../disposable';
import type { JobsModel } from '../tree/jobs-model';

interface Attached { channel: vscode.OutputChannel; tail: LogTail | undefined }

/**
 * One output channel per job, fed from the job's local log mirror. A channel replays the mirror from
 * the start when created (so after a window reload it shows the whole log once) and then receives
 * only new lines. Tails stop once their job is terminal and fully read.
 */
export class JobLogChannels extends Disposable {
  private readonly attached = new Map<string, Attached>();

  constructor(private readonly model: JobsModel) {
    super();
    this._register(model.onDidChange(() => this.onJobsChanged()));
    this._register({ dispose: () => { for (const a of this.attached.values()) { a.tail?.dispose(); a.channel.dispose(); } this.attached.clear(); } });
  }

  /** Channels for every active job, so their logs are live after a reload without a click. */
  reattachActive(): void {
    for (const job of this.model.all) if (!isTerminal(job.status)) this.attach(job);
  }

  show(job: Job): vscode.OutputChannel {
    const a = this.attach(job);
    a.channel.show(true);
    return a.channel;
  }

  channelName(job: Job): string {
    return `Cloud Training: ${job.name} (${job.id})`;
  }

  private attach(job: Job): Attached {
    let a = this.attached.get(job.id);
    if (a) return a;
    const channel = vscode.window.createOutputChannel(this.channelName(job), 'log');
    a = { channel, tail: undefined };
    this.attached.set(job.id, a);
    if (job.logPath) {
      const target = a;
      a.tail = new LogTail(job.logPath, { onLines: (lines) => target.channel.append(lines.join('\n') + '\n'), intervalMs: 500 }).start();
    } else {
      channel.appendLine('(this job has no log)');
    }
    return a;
  }

  private onJobsChanged(): void {
    for (const [id, a] of this.attached) {
      const job = this.model.find(id);
      if (!job) continue;
      if (isTerminal(job.status) && job.metadata.finalized === true && a.tail) {
        const tail = a.tail;
        a.tail = undefined;
        // One last read so the final lines arrive, then stop polling.
        void tail.poll().finally(() => tail.dispose());
      }
    }
  }
}
