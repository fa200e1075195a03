import { Worker } from 'node:worker_threads';

/**
 * The MD5 (ETag, Content-MD5) and SHA-256 (the signed payload hash) of large request bodies, computed
 * on a worker thread.
 *
 * Both hashes are required (the aws CLI sends Content-MD5 and a signed payload hash with every part)
 * and cost ~2.4 CPU-seconds per GiB, as much as everything else the server does for the upload. On the
 * main thread they also hold up reading the other sockets, so the client stalls while we hash: with
 * them there, a 1 GiB `aws s3 cp` ran at 0.6× a bare node:http server that hashes nothing. Here the
 * main thread only copies each chunk into a 1 MiB batch (~0.25 CPU-s/GiB) and hands the batch over;
 * the digests come back when the body has ended. Small bodies (XML, tiny objects) are hashed inline:
 * a round trip to the worker costs more than their hashing.
 *
 * Backpressure: when the worker is more than HIGH_WATER bytes behind, `blocked()` is true and callers
 * stop reading sockets until `onceOpen` fires, so a slow worker never buffers a whole upload.
 */

/** Bodies at least this long (or of unknown length) are hashed off the main thread. */
export const OFFLOAD_MIN_BYTES = 1024 * 1024;
const BATCH_BYTES = 1024 * 1024;
const HIGH_WATER = 32 * 1024 * 1024;
const LOW_WATER = 8 * 1024 * 1024;
/** Spare batches kept for reuse: as many as can be in flight at the high-water mark. */
const MAX_SPARE = HIGH_WATER / BATCH_BYTES + 8;

// Inline source: the extension and CLI are single-file bundles, so the worker cannot be a separate module.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const bodies = new Map();
const open = (id, sha) => {
  let b = bodies.get(id);
  if (!b) { b = { md5: createHash('md5'), sha: sha ? createHash('sha256') : null }; bodies.set(id, b); }
  return b;
};
parentPort.on('message', (m) => {
  if (m.t === 'u') {
    const b = open(m.id, m.sha);
    const u = new Uint8Array(m.buf, 0, m.len);
    b.md5.update(u);
    if (b.sha) b.sha.update(u);
    // The batch goes back to be filled again: a fresh 1 MiB per batch kept the main thread's GC busy.
    parentPort.postMessage({ t: 'c', n: m.len, buf: m.buf }, [m.buf]);
  } else if (m.t === 'e') {
    const b = open(m.id, m.sha);
    bodies.delete(m.id);
    parentPort.postMessage({ t: 'd', id: m.id, md5: b.md5.digest('hex'), sha: b.sha ? b.sha.digest('hex') : null });
  } else if (m.t === 'x') {
    bodies.delete(m.id);
  }
});
`;

const DoneSchema = { isDone: (m: unknown): m is { t: 'd'; id: number; md5: string; sha: string | null } => (m as { t?: unknown })?.t === 'd' };

export interface BodyDigests {
  md5: Buffer;
  sha256Hex?: string;
}

/** One worker shared by every upload of a server; started on first use, ended by `close()`. */
export class HashPool {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(d: BodyDigests): void; reject(e: Error): void }>();
  private readonly openWaiters = new Set<() => void>();
  /** Bytes handed to the worker and not yet hashed. */
  private backlog = 0;
  /** Batches the worker gave back, to be filled again. */
  private readonly spare: ArrayBuffer[] = [];
  private closed = false;

  /** A new body's hashes; `sha256` when the client signed the payload hash. */
  body(sha256: boolean): OffThreadDigest {
    if (this.closed) throw new Error('The hash worker was closed');
    return new OffThreadDigest(this, this.nextId++, sha256);
  }

  blocked(): boolean {
    return this.backlog > HIGH_WATER;
  }

  /** Calls `cb` once the backlog is under the low-water mark (at once if it is). */
  onceOpen(cb: () => void): void {
    if (this.backlog <= LOW_WATER) cb();
    else this.openWaiters.add(cb);
  }

  /** @internal */
  send(message: { t: 'u'; id: number; sha: boolean; buf: ArrayBuffer; len: number } | { t: 'e'; id: number; sha: boolean } | { t: 'x'; id: number }): void {
    const w = this.ensureWorker();
    if (message.t === 'u') {
      this.backlog += message.len;
      w.postMessage(message, [message.buf]);
    } else {
      w.postMessage(message);
    }
  }

  /** @internal */
  expect(id: number): Promise<BodyDigests> {
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    // Idle, the worker must not keep a CLI process alive; a pending digest is held by its request's socket.
    w.unref();
    w.on('message', (m: unknown) => {
      if (DoneSchema.isDone(m)) {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        p?.resolve({ md5: Buffer.from(m.md5, 'hex'), ...(m.sha ? { sha256Hex: m.sha } : {}) });
      } else if ((m as { t?: unknown }).t === 'c') {
        const { n, buf } = m as { n: number; buf?: ArrayBuffer };
        this.backlog -= n;
        if (buf?.byteLength === BATCH_BYTES && this.spare.length < MAX_SPARE) this.spare.push(buf);
        if (this.backlog <= LOW_WATER) this.releaseWaiters();
      }
    });
    const fail = (e: Error): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.backlog = 0;
      const err = new Error(`The hash worker stopped: ${e.message}`);
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
      this.releaseWaiters();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker = w;
    return w;
  }

  /** @internal An empty batch buffer: a spare one when there is one. */
  takeBatch(): Buffer {
    const ab = this.spare.pop();
    return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  private releaseWaiters(): void {
    const all = [...this.openWaiters];
    this.openWaiters.clear();
    for (const cb of all) cb();
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    for (const p of this.waiting.values()) p.reject(new Error('The hash worker was closed'));
    this.waiting.clear();
    this.releaseWaiters();
    if (w) await w.terminate();
  }
}

/** The running MD5 (and SHA-256) of one body, batched to the pool's worker. */
export class OffThreadDigest {
  private batch: Buffer | undefined;
  private filled = 0;
  private finished = false;
  /** Whether the worker has seen this body (else there is nothing there to drop). */
  private sent = false;

  constructor(private readonly pool: HashPool, private readonly id: number, private readonly sha256: boolean) {}

  update(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      this.batch ??= this.pool.takeBatch();
      const n = chunk.copy(this.batch, this.filled, at);
      this.filled += n;
      at += n;
      if (this.filled === BATCH_BYTES) this.flush();
    }
  }

  private flush(): void {
    if (!this.batch || this.filled === 0) return;
    const buf = this.batch.buffer as ArrayBuffer;
    this.pool.send({ t: 'u', id: this.id, sha: this.sha256, buf, len: this.filled });
    this.sent = true;
    this.batch = undefined;
    this.filled = 0;
  }

  /** The digests of everything passed to `update`. */
  digest(): Promise<BodyDigests> {
    if (this.finished) return Promise.reject(new Error('digest() called twice'));
    this.finished = true;
    this.flush();
    const done = this.pool.expect(this.id);
    this.pool.send({ t: 'e', id: this.id, sha: this.sha256 });
    return done;
  }

  /** The body was refused or cut off: drop the worker's state for it. */
  discard(): void {
    if (this.finished) return;
    this.finished = true;
    this.batch = undefined;
    if (this.sent) this.pool.send({ t: 'x', id: this.id });
  }
}
