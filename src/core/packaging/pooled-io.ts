import fs from 'node:fs';
import { Readable, Writable } from 'node:stream';

/**
 * A fixed set of read buffers, handed back when the zip's output has written them. Allocating a fresh
 * 1 MiB buffer per read (what fs.createReadStream does) costs page faults and GC and made reading 6x
 * slower than `cat`; recycling a few buffers keeps memory flat and reads near `cat` speed.
 */
export class BufferPool {
  private readonly buffers: Buffer[] = [];
  private readonly slots = new Map<ArrayBufferLike, number>();
  /** Outstanding holders per buffer: the writer, and the hash worker when it reads the chunk too. */
  private readonly holds: number[] = [];
  private readonly free: number[] = [];
  private readonly waiters: Array<(b: Buffer) => void> = [];

  /** `shared`: back the buffers with SharedArrayBuffers so a worker thread can read them without a copy. */
  constructor(readonly chunkSize: number, count: number, shared = false) {
    for (let i = 0; i < count; i++) {
      const b = shared ? Buffer.from(new SharedArrayBuffer(chunkSize)) : Buffer.allocUnsafeSlow(chunkSize);
      this.buffers.push(b);
      this.slots.set(b.buffer, i);
      this.holds.push(0);
      this.free.push(i);
    }
  }

  acquire(): Promise<Buffer> {
    const i = this.free.pop();
    if (i !== undefined) { this.holds[i] = 1; return Promise.resolve(this.buffers[i]!); }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The pool slot behind `chunk`, or undefined for a buffer that is not ours. */
  slotOf(chunk: Uint8Array): number | undefined { return this.slots.get(chunk.buffer); }

  /** One more holder of the pool buffer behind `chunk` (it goes back only when every holder released it). */
  retain(chunk: Uint8Array): void {
    const i = this.slotOf(chunk);
    if (i !== undefined) this.holds[i]!++;
  }

  /** Give back the pool buffer behind `chunk` (a view of it) or slot number; other buffers are ignored. */
  release(chunk: Uint8Array | number): void {
    const i = typeof chunk === 'number' ? chunk : this.slotOf(chunk);
    if (i === undefined || !this.holds[i]) return;
    if (--this.holds[i]! > 0) return;
    const waiter = this.waiters.shift();
    if (waiter) { this.holds[i] = 1; waiter(this.buffers[i]!); }
    else this.free.push(i);
  }
}

/** Reads a file into pool buffers; each chunk must reach a writer that releases it. */
export class PooledFileReader extends Readable {
  private fd: number | undefined;
  private pos = 0;

  constructor(private readonly file: string, private readonly pool: BufferPool) {
    super({ highWaterMark: 2 * pool.chunkSize });
  }

  override _construct(cb: (e?: Error | null) => void): void {
    fs.open(this.file, 'r', (e, fd) => { this.fd = fd; cb(e); });
  }

  override _read(): void {
    this.pool.acquire().then((buf) => {
      if (this.destroyed || this.fd === undefined) return this.pool.release(buf);
      fs.read(this.fd, buf, 0, buf.length, this.pos, (err, n) => {
        if (err || n === 0) {
          this.pool.release(buf);
          return err ? this.destroy(err) : this.push(null);
        }
        this.pos += n;
        this.push(buf.subarray(0, n));
      });
    }, (e) => this.destroy(e as Error));
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.fd === undefined) return cb(err);
    fs.close(this.fd, () => cb(err));
    this.fd = undefined;
  }
}

/** Writes with writev (several chunks per syscall) and returns pool buffers once they are on disk. */
export class PooledFileWriter extends Writable {
  private fd: number | undefined;
  bytesWritten = 0;

  constructor(private readonly file: string, private readonly pool: BufferPool) {
    super({ highWaterMark: 4 * pool.chunkSize });
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
        for (const b of bufs) this.pool.release(b);
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
