import fs from 'node:fs';
import { Writable } from 'node:stream';

/**
 * Writes a file with writev (everything queued meanwhile goes in one syscall) and reports every batch
 * once it is on disk, so the buffers can be reused (see the read ring in zip-writer.ts).
 */
export class FileWriter extends Writable {
  private fd: number | undefined;
  bytesWritten = 0;

  constructor(private readonly file: string, private readonly onWritten: (chunks: Buffer[]) => void, highWaterMark = 8 * 1024 * 1024) {
    super({ highWaterMark });
  }

  override _construct(cb: (e?: Error | null) => void): void {
    fs.open(this.file, 'w', 0o600, (e, fd) => { this.fd = fd; cb(e); });
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (e?: Error | null) => void): void {
    const bufs = chunks.map((c) => c.chunk);
    const total = bufs.reduce((n, b) => n + b.length, 0);
    const writeAll = (list: Buffer[], left: number): void => {
      fs.writev(this.fd!, list, (err, n) => {
        if (err) return cb(err);
        this.bytesWritten += n;
        if (n < left) return writeAll(skip(list, n), left - n);
        try {
          this.onWritten(bufs);
        } catch (e) {
          return cb(e as Error);
        }
        cb();
      });
    };
    writeAll(bufs, total);
  }

  override _final(cb: (e?: Error | null) => void): void {
    // No fsync: a 1 GB flush would double the time, and a package is re-creatable from its sources.
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.fd === undefined) return cb(err);
    fs.close(this.fd, () => cb(err));
    this.fd = undefined;
  }
}

function skip(list: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of list) {
    if (n >= b.length) { n -= b.length; continue; }
    out.push(n ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}
