import { Worker } from 'node:worker_threads';

/**
 * The MD5 (ETag, Content-MD5), SHA-256 (the signed payload hash) and flexible checksum (CRC32, SHA-1,
 * SHA-256) of large request bodies, computed on two worker threads.
 *
 * The hashes are required (the aws CLI sends Content-MD5, a signed payload hash and a CRC32 with every
 * part) and cost ~3 CPU-seconds per GiB, more than everything else the server does for the upload. On
 * the main thread they also hold up reading the other sockets, so the client stalls while we hash.
 *
 * The main thread copies each chunk into a ring in a SharedArrayBuffer, behind a 16-byte record header
 * (kind, body id, length, flags), and wakes a sleeping reader with `Atomics.notify`. Both readers hash
 * the bytes in place (one MD5, the other the rest) and free them; the writer reuses a byte once both
 * are past it. No message and no allocation per chunk: handing over 1 MiB batches by
 * `postMessage` cost ~0.45 CPU-s/GiB in the calls, and as much again in main-thread GC, because every
 * transferred ArrayBuffer is new external memory to V8. Only a body's digests come back as a message.
 *
 * Backpressure: when more than HIGH_WATER bytes wait in the ring, `blocked()` is true and callers stop
 * reading sockets until `onceOpen` fires. Chunks that still arrive (already read from a socket) and do
 * not fit wait in an overflow queue, in order, so a slow worker never loses or reorders bytes.
 */

/** Bodies at least this long (or of unknown length) are hashed off the main thread. */
export const OFFLOAD_MIN_BYTES = 1024 * 1024;
const RING_BYTES = 32 * 1024 * 1024;
const HIGH_WATER = 16 * 1024 * 1024;
const LOW_WATER = 4 * 1024 * 1024;
/** A chunk is split into records of at most this much, so one always fits an open ring. */
const MAX_RECORD = 256 * 1024;
const HEADER = 16;

// Record kinds, and the control words (Int32 indices) shared with the worker.
const DATA = 1, END = 2, DROP = 3, WRAP = 4, QUIT = 5;
// USED0/USED1: bytes each reader has not yet hashed (the ring is shared by two readers).
// SLEEP0/SLEEP1: set while that reader waits, so the writer makes the (futex) notify call only then.
const USED0 = 0, USED1 = 1, SEQ = 2, WAKE = 3, SLEEP0 = 4, SLEEP1 = 5;

/** Checksums the worker can run natively; CRC32C and CRC64NVME stay on the main thread (JS tables). */
export const OFFLOADED_CHECKSUMS = ['crc32', 'sha1', 'sha256'] as const;
export type OffloadedChecksum = (typeof OFFLOADED_CHECKSUMS)[number];

// Inline source: the extension and CLI are single-file bundles, so the worker cannot be a separate module.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const zlib = require('node:zlib');
const { data, control, size, low, role } = workerData;
// Two readers of one ring, so a part's digests wait for the longer hash, not the sum: role 0 runs
// MD5, role 1 the signed SHA-256 and the flexible checksum.
const MINE = role, OTHER = 1 - role;
const bytes = new Uint8Array(data);
const words = new Int32Array(data);
const ctrl = new Int32Array(control);
const CHECKSUMS = [null, 'crc32', 'sha1', 'sha256'];
const bodies = new Map();
const open = (id, flags) => {
  let b = bodies.get(id);
  if (!b) {
    const ck = CHECKSUMS[(flags >> 1) & 3];
    b = role === 0 ? { md5: createHash('md5'), sha: null, ck: null, crc: 0, ckHash: null }
      : { md5: null, sha: flags & 1 ? createHash('sha256') : null, ck, crc: 0, ckHash: ck === 'sha1' || ck === 'sha256' ? createHash(ck) : null };
    bodies.set(id, b);
  }
  return b;
};
const u32be = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b.toString('base64'); };
let at = 0;
for (;;) {
  if (Atomics.load(ctrl, MINE) === 0) {
    // Say we sleep before the last look: the writer adds to USED, then checks SLEEP (both seq-cst),
    // so either we see its bytes here or it sees the flag and notifies.
    Atomics.store(ctrl, ${SLEEP0} + role, 1);
    const seq = Atomics.load(ctrl, ${SEQ});
    if (Atomics.load(ctrl, MINE) === 0) Atomics.wait(ctrl, ${SEQ}, seq, 5000);
    Atomics.store(ctrl, ${SLEEP0} + role, 0);
    continue;
  }
  const w = at >> 2;
  const kind = words[w], id = words[w + 1], len = words[w + 2], flags = words[w + 3];
  if (kind === ${QUIT}) break;
  let consumed;
  if (kind === ${WRAP}) {
    consumed = size - at;
  } else {
    consumed = ${HEADER} + ((len + 15) & ~15);
    if (kind === ${DATA}) {
      const b = open(id, flags);
      const u = bytes.subarray(at + ${HEADER}, at + ${HEADER} + len);
      if (b.md5) b.md5.update(u);
      if (b.sha) b.sha.update(u);
      if (b.ck === 'crc32') b.crc = zlib.crc32(u, b.crc);
      else if (b.ckHash) b.ckHash.update(u);
    } else if (kind === ${END}) {
      const b = open(id, flags);
      bodies.delete(id);
      parentPort.postMessage({ t: 'd', id, role, md5: b.md5 ? b.md5.digest('hex') : null, sha: b.sha ? b.sha.digest('hex') : null,
        ck: b.ck === 'crc32' ? u32be(b.crc) : b.ckHash ? b.ckHash.digest('base64') : null });
    } else if (kind === ${DROP}) {
      bodies.delete(id);
    }
  }
  at += consumed;
  if (at === size) at = 0;
  // Freed (for this reader) only now: the main thread overwrites bytes once both readers are past them.
  const left = Atomics.sub(ctrl, MINE, consumed) - consumed;
  if (left <= low && Atomics.load(ctrl, OTHER) <= low && Atomics.compareExchange(ctrl, ${WAKE}, 1, 0) === 1) parentPort.postMessage({ t: 'o' });
}
`;

const DoneSchema = {
  isDone: (m: unknown): m is { t: 'd'; id: number; role: number; md5: string | null; sha: string | null; ck: string | null } => (m as { t?: unknown })?.t === 'd',
};

export interface BodyDigests {
  md5: Buffer;
  sha256Hex?: string;
  /** The flexible checksum asked for in `body()`, base64 as in `x-amz-checksum-*`. */
  checksumBase64?: string;
}

interface PendingRecord { kind: number; id: number; flags: number; data?: Buffer }

interface Ring {
  workers: [Worker, Worker];
  bytes: Buffer;
  words: Int32Array;
  ctrl: Int32Array;
  /** Where the next record goes (only this thread moves it). */
  at: number;
  /** Which worker this is: a body begun on an earlier one that died cannot be finished on this one. */
  generation: number;
}

/** The bytes not yet hashed by the slower of the two readers. */
function usedOf(ring: Ring): number {
  return Math.max(Atomics.load(ring.ctrl, USED0), Atomics.load(ring.ctrl, USED1));
}

/** Two workers shared by every upload of a server; started on first use, ended by `close()`. */
export class HashPool {
  private ring: Ring | undefined;
  private generation = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(d: BodyDigests): void; reject(e: Error): void; md5?: string; rest?: { sha: string | null; ck: string | null } }>();
  private readonly openWaiters = new Set<() => void>();
  /** Records that did not fit the ring yet, in order. */
  private readonly overflow: PendingRecord[] = [];
  private closed = false;

  /** A new body's hashes; `sha256` when the client signed the payload hash, `checksum` for an x-amz-checksum-*. */
  body(sha256: boolean, checksum?: OffloadedChecksum): OffThreadDigest {
    if (this.closed) throw new Error('The hash worker was closed');
    const flags = (sha256 ? 1 : 0) | ((checksum ? OFFLOADED_CHECKSUMS.indexOf(checksum) + 1 : 0) << 1);
    const id = this.nextId;
    this.nextId = (id % 0x7fffffff) + 1; // ids travel as Int32 in record headers
    return new OffThreadDigest(this, id, flags);
  }

  blocked(): boolean {
    return this.overflow.length > 0 || (this.ring !== undefined && usedOf(this.ring) > HIGH_WATER);
  }

  /** Calls `cb` once the backlog is under the low-water mark (at once if it is). */
  onceOpen(cb: () => void): void {
    if (this.isOpen()) return cb();
    this.openWaiters.add(cb);
    this.arm();
  }

  /** @internal The running worker's generation, starting one if none runs. */
  currentGeneration(): number {
    return this.ensureRing().generation;
  }

  /** @internal The running worker's generation; undefined when none runs. */
  liveGeneration(): number | undefined {
    return this.ring?.generation;
  }

  /** @internal Queue a record for the worker: into the ring, or behind what is already waiting. */
  put(kind: number, id: number, flags: number, data?: Buffer): void {
    const ring = this.ensureRing();
    if (this.overflow.length === 0 && this.write(ring, kind, id, flags, data)) return;
    // `data` is a chunk the caller no longer changes (socket reads are fresh buffers): kept, not copied.
    this.overflow.push({ kind, id, flags, data });
    this.arm();
  }

  /** @internal */
  expect(id: number): Promise<BodyDigests> {
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  private isOpen(): boolean {
    return this.overflow.length === 0 && (this.ring === undefined || usedOf(this.ring) <= LOW_WATER);
  }

  /** Ask the worker for a message once the ring is under the low-water mark. */
  private arm(): void {
    const ring = this.ring;
    if (!ring) return;
    Atomics.store(ring.ctrl, WAKE, 1);
    // The worker may have passed the mark before seeing the flag: check again ourselves.
    if (usedOf(ring) <= LOW_WATER && Atomics.compareExchange(ring.ctrl, WAKE, 1, 0) === 1) queueMicrotask(() => this.onSpace());
  }

  private onSpace(): void {
    const ring = this.ring;
    if (!ring) return;
    while (this.overflow.length) {
      const r = this.overflow[0]!;
      if (!this.write(ring, r.kind, r.id, r.flags, r.data)) break;
      this.overflow.shift();
    }
    if (this.isOpen()) this.releaseWaiters();
    else this.arm();
  }

  /** Writes one record if it fits; false when the ring is too full. */
  private write(ring: Ring, kind: number, id: number, flags: number, data?: Buffer): boolean {
    const len = data?.length ?? 0;
    const need = HEADER + ((len + 15) & ~15);
    const tail = RING_BYTES - ring.at;
    const used = usedOf(ring);
    const wrap = need > tail;
    if (used + need + (wrap ? tail : 0) > RING_BYTES) return false;
    if (wrap) {
      this.header(ring, WRAP, 0, 0, 0);
      Atomics.add(ring.ctrl, USED0, tail);
      Atomics.add(ring.ctrl, USED1, tail);
      ring.at = 0;
    }
    this.header(ring, kind, id, len, flags);
    // Buffer#copy is a plain memcpy; TypedArray#set into shared memory copies word by word (relaxed atomics).
    if (data) data.copy(ring.bytes, ring.at + HEADER);
    ring.at += need;
    if (ring.at === RING_BYTES) ring.at = 0;
    Atomics.add(ring.ctrl, USED0, need);
    Atomics.add(ring.ctrl, USED1, need);
    Atomics.add(ring.ctrl, SEQ, 1);
    // A notify per 64 KiB chunk cost ~14 µs each: only when a reader sleeps.
    if (Atomics.load(ring.ctrl, SLEEP0) || Atomics.load(ring.ctrl, SLEEP1)) Atomics.notify(ring.ctrl, SEQ);
    return true;
  }

  private header(ring: Ring, kind: number, id: number, len: number, flags: number): void {
    const w = ring.at >> 2;
    ring.words[w] = kind;
    ring.words[w + 1] = id;
    ring.words[w + 2] = len;
    ring.words[w + 3] = flags;
  }

  private ensureRing(): Ring {
    if (this.ring) return this.ring;
    if (this.closed) throw new Error('The hash worker was closed');
    const data = new SharedArrayBuffer(RING_BYTES);
    const control = new SharedArrayBuffer(6 * 4);
    const start = (role: number): Worker => {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { data, control, size: RING_BYTES, low: LOW_WATER, role } });
      // Idle, the workers must not keep a CLI process alive; a pending digest is held by its request's socket.
      w.unref();
      return w;
    };
    const ring: Ring = { workers: [start(0), start(1)], bytes: Buffer.from(data), words: new Int32Array(data), ctrl: new Int32Array(control), at: 0, generation: ++this.generation };
    const fail = (e: Error): void => {
      if (this.ring !== ring) return;
      this.ring = undefined;
      this.overflow.length = 0;
      const err = new Error(`The hash worker stopped: ${e.message}`);
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
      this.releaseWaiters();
      // Its partner holds half of every body's hashes: useless alone.
      for (const w of ring.workers) void w.terminate();
    };
    for (const worker of ring.workers) {
      worker.on('message', (m: unknown) => {
        if (DoneSchema.isDone(m)) this.half(m);
        else if ((m as { t?: unknown }).t === 'o') this.onSpace();
      });
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    }
    this.ring = ring;
    return ring;
  }

  /** One reader's digests of a body; the body's promise resolves once both are in. */
  private half(m: { id: number; role: number; md5: string | null; sha: string | null; ck: string | null }): void {
    const p = this.waiting.get(m.id);
    if (!p) return;
    if (m.role === 0) p.md5 = m.md5 ?? '';
    else p.rest = { sha: m.sha, ck: m.ck };
    if (p.md5 === undefined || p.rest === undefined) return;
    this.waiting.delete(m.id);
    p.resolve({ md5: Buffer.from(p.md5, 'hex'), ...(p.rest.sha ? { sha256Hex: p.rest.sha } : {}), ...(p.rest.ck ? { checksumBase64: p.rest.ck } : {}) });
  }

  private releaseWaiters(): void {
    const all = [...this.openWaiters];
    this.openWaiters.clear();
    for (const cb of all) cb();
  }

  async close(): Promise<void> {
    this.closed = true;
    const ring = this.ring;
    this.ring = undefined;
    this.overflow.length = 0;
    for (const p of this.waiting.values()) p.reject(new Error('The hash worker was closed'));
    this.waiting.clear();
    this.releaseWaiters();
    if (!ring) return;
    // Tell the workers to leave their wait loop (a QUIT record needs no space check: it is never hashed).
    ring.words[ring.at >> 2] = QUIT;
    Atomics.add(ring.ctrl, USED0, HEADER);
    Atomics.add(ring.ctrl, USED1, HEADER);
    Atomics.add(ring.ctrl, SEQ, 1);
    Atomics.notify(ring.ctrl, SEQ);
    await Promise.all(ring.workers.map((w) => w.terminate()));
  }
}

/** The running hashes of one body, streamed to the pool's worker. */
export class OffThreadDigest {
  private finished = false;
  /** The worker generation that has this body's bytes (undefined: none sent yet). */
  private generation: number | undefined;

  constructor(private readonly pool: HashPool, private readonly id: number, private readonly flags: number) {}

  update(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.generation ??= this.pool.currentGeneration();
    for (let at = 0; at < chunk.length; at += MAX_RECORD) {
      this.pool.put(DATA, this.id, this.flags, chunk.subarray(at, Math.min(chunk.length, at + MAX_RECORD)));
    }
  }

  /** The digests of everything passed to `update`. */
  digest(): Promise<BodyDigests> {
    if (this.finished) return Promise.reject(new Error('digest() called twice'));
    this.finished = true;
    // A worker that died mid-body took this body's running hashes with it.
    if (this.generation !== undefined && this.generation !== this.pool.liveGeneration()) {
      return Promise.reject(new Error('The hash worker stopped while this body streamed'));
    }
    const done = this.pool.expect(this.id);
    this.pool.put(END, this.id, this.flags);
    return done;
  }

  /** The body was refused or cut off: drop the worker's state for it. */
  discard(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.generation !== undefined && this.generation === this.pool.liveGeneration()) this.pool.put(DROP, this.id, this.flags);
  }
}
