import { readLinesFrom } from './mirror';

export interface LogTailOptions {
  /** Start here (bytes). 0 replays the whole log, which is what a reattach after reload wants. */
  offset?: number;
  intervalMs?: number;
  onLines: (lines: string[]) => void;
  onError?: (e: unknown) => void;
}

/**
 * Follows a growing log file and delivers each complete line exactly once. Polls (fs.watch is
 * unreliable across filesystems and editors) and can be disposed at any time.
 */
export class LogTail {
  private offset: number;
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private disposed = false;

  constructor(readonly file: string, private readonly opts: LogTailOptions) {
    this.offset = opts.offset ?? 0;
  }

  get position(): number {
    return this.offset;
  }

  start(): this {
    void this.poll();
    return this;
  }

  /** Read whatever is new now (also called by the timer). Resolves when up to date. */
  async poll(): Promise<void> {
    if (this.reading || this.disposed) return;
    this.reading = true;
    try {
      for (;;) {
        const { lines, next } = await readLinesFrom(this.file, this.offset);
        const advanced = next !== this.offset;
        this.offset = next;
        if (lines.length && !this.disposed) this.opts.onLines(lines);
        if (!advanced || !lines.length) break;
      }
    } catch (e) {
      this.opts.onError?.(e);
    } finally {
      this.reading = false;
      if (!this.disposed) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.poll(), this.opts.intervalMs ?? 500);
      }
    }
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
