import { Worker } from 'node:worker_threads';
import type { DirListing, EntryKind } from './scan';

/**
 * The packaging worker thread: the file I/O and sha256 of a package, off the main thread.
 *
 * Reading thousands of files through async fs calls costs a thread-pool round trip per open, read and
 * close (~0.1 ms each, one after the other because the zip is written in order), so packaging 1 GiB of
 * 6,000 files used to spend most of its time waiting. Here a worker reads with synchronous calls
 * (blocking is fine off the main thread) straight into a shared ring buffer, hashes what it read, and
 * tells the main thread in batches which ring ranges hold which file; the main thread only runs yazl
 * (headers, CRC, deflate of text) and writes the zip. The main thread also stays free for the editor.
 *
 * Ring protocol (positions are int32 counters that wrap; the ring size is a power of two):
 * - the worker owns `produced`; a piece is a contiguous range [off, off + len) of the ring, placed at
 *   `produced & (size - 1)`, or at 0 when it would run past the end (the skipped tail is padding);
 * - the main thread stores in CTL_CONSUMED the end position of the longest prefix of pieces it is done
 *   with (written to the zip, or copied for deflate) and notifies; the worker waits on it when full;
 * - CTL_ABORT stops the worker between pieces.
 * Messages from the worker: `pieces` (flat [file, off, len, end, last] quintuples, plus [file, sha256]
 * pairs), `done`, `error` (a file's fs error, or a file that changed while read); and `listing` (one folder) and
 * `listed` (all of them) for a listDirs call.
 */

export const CTL_CONSUMED = 0;
export const CTL_ABORT = 1;
const CTL_WORDS = 2;

// Inline source: the extension and CLI are single-file bundles, so the worker cannot be a separate module.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const CONSUMED = ${CTL_CONSUMED}, ABORT = ${CTL_ABORT};

function fsError(e, file) {
  return { message: String(e && e.message || e), code: e && e.code, syscall: e && e.syscall, path: file };
}

// Each folder's listing goes back as soon as it is done, so the main thread sorts it out meanwhile.
function list(m) {
  m.dirs.forEach((dir, index) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      parentPort.postMessage({ t: 'listing', id: m.id, index, listing: { error: (e && e.code) || String(e && e.message || e) } });
      return;
    }
    const n = entries.length, names = new Array(n), size = new Float64Array(n), mtimeMs = new Float64Array(n), errors = [];
    let kinds = '';
    for (let i = 0; i < n; i++) {
      const d = entries[i];
      names[i] = d.name;
      if (d.isDirectory()) kinds += 'd';
      else if (d.isFile()) {
        kinds += 'f';
        try {
          const st = fs.statSync(dir + '/' + d.name);
          size[i] = st.size;
          mtimeMs[i] = st.mtimeMs;
        } catch (e) {
          errors.push(i, (e && e.code) || String(e && e.message || e));
        }
      } else if (d.isSymbolicLink()) kinds += 'l';
      else kinds += 'o';
    }
    parentPort.postMessage({ t: 'listing', id: m.id, index, listing: { names, kinds, size, mtimeMs, errors } }, [size.buffer, mtimeMs.buffer]);
  });
  parentPort.postMessage({ t: 'listed', id: m.id });
}

function read(m) {
  const ring = Buffer.from(m.ring), R = ring.length, ctl = new Int32Array(m.ctl);
  const { files, wholeMax, pieceMax, readMax, flushBytes, flushPieces } = m;
  const aborted = () => Atomics.load(ctl, ABORT) !== 0;
  let produced = 0, pieces = [], shas = [], pendingBytes = 0, pendingSince = 0;
  const flush = () => {
    if (!pieces.length) return;
    parentPort.postMessage({ t: 'pieces', pieces, shas });
    pieces = []; shas = []; pendingBytes = 0;
  };
  // Room for len contiguous bytes: waits (after handing over what is pending) until the main thread
  // has consumed enough; returns the offset, or -1 when aborted.
  const reserve = (len) => {
    const off = produced & (R - 1);
    const pad = off + len > R ? R - off : 0;
    for (;;) {
      if (aborted()) return -1;
      const consumed = Atomics.load(ctl, CONSUMED);
      if (R - ((produced - consumed) | 0) >= pad + len) break;
      flush();
      Atomics.wait(ctl, CONSUMED, consumed);
    }
    produced = (produced + pad) | 0;
    return pad ? 0 : off;
  };
  const probe = Buffer.allocUnsafe(1);
  let current;
  try {
    for (let i = 0; i < files.length; i++) {
      const f = files[i];
      current = f.path;
      if (aborted()) return;
      const fd = fs.openSync(f.path, 'r');
      try {
        const h = f.hash ? createHash('sha256') : null;
        let pos = 0;
        do {
          const len = f.size <= wholeMax ? f.size : Math.min(f.size - pos, pieceMax);
          const off = len ? reserve(len) : 0;
          if (off < 0) return;
          // Read and hash in cache-sized steps so the bytes are still in cache when hashed.
          for (let got = 0; got < len;) {
            const want = Math.min(len - got, readMax);
            let n = 0;
            while (n < want) {
              const r = fs.readSync(fd, ring, off + got + n, want - n, pos + got + n);
              if (r === 0) throw { changed: true, message: f.path + ' changed while it was being packaged: it now has ' + (pos + got + n) + ' bytes, ' + f.size + ' when the dataset was scanned' };
              n += r;
            }
            if (h) h.update(ring.subarray(off + got, off + got + want));
            got += want;
          }
          pos += len;
          produced = (produced + len) | 0;
          const last = pos >= f.size;
          if (last && fs.readSync(fd, probe, 0, 1, pos) !== 0) {
            throw { changed: true, message: f.path + ' changed while it was being packaged: it grew beyond the ' + f.size + ' bytes it had when the dataset was scanned' };
          }
          if (!pieces.length) pendingSince = Date.now();
          pieces.push(i, off, len, produced, last ? 1 : 0);
          if (last && h) shas.push(i, h.digest('hex'));
          pendingBytes += len;
          if (pendingBytes >= flushBytes || pieces.length >= flushPieces * 5 || Date.now() - pendingSince >= 5) flush();
        } while (pos < f.size);
      } finally {
        fs.closeSync(fd);
      }
    }
    flush();
    parentPort.postMessage({ t: 'done' });
  } catch (e) {
    flush();
    parentPort.postMessage({ t: 'error', error: e && e.changed ? { message: e.message, code: 'ECHANGED', path: current } : fsError(e, current) });
  }
}

parentPort.on('message', (m) => {
  if (m.t === 'list') list(m);
  else if (m.t === 'read') read(m);
});
`;

/** Test seam: the source the next PackWorker runs (tests swap in a failing one). */
export const packWorkerSource = { current: WORKER_SOURCE };

export interface ReadFile { path: string; size: number; hash: boolean }

export interface ReadJob {
  ring: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  files: ReadFile[];
  /** Files up to this size are read as one piece (one contiguous range of the ring). */
  wholeMax: number;
  /** Larger files come in pieces of this size. */
  pieceMax: number;
  /** Read (and hash) step inside a piece. */
  readMax: number;
  /** The worker hands pieces over once this many bytes or pieces are pending (or 5 ms passed). */
  flushBytes: number;
  flushPieces: number;
}

export interface ReadHandlers {
  /** Flat [file, off, len, end, last] quintuples, and [file, sha256] pairs for files that were hashed. */
  onPieces(pieces: number[], shas: Array<number | string>): void;
  onDone(): void;
  onError(e: Error): void;
}

/** A file the worker failed on: an fs error with its code, or ECHANGED for a file modified while read. */
export class PackFileError extends Error {
  constructor(message: string, readonly code: string | undefined, readonly path: string | undefined, readonly syscall?: string) {
    super(message);
    this.name = 'PackFileError';
  }
}

/**
 * One packaging worker: `listDirs()` a level of folders at once (the scan), then `read()` the package's files into
 * a shared ring. Any failure of the thread itself (it cannot start, crashes, exits) rejects what is
 * pending with an error that says so, and fails every later call.
 */
export class PackWorker {
  private readonly worker: Worker;
  private failure: Error | undefined;
  private nextId = 1;
  private readonly lists = new Map<number, { each: (index: number, listing: DirListing | { error: string }) => void; resolve: () => void; reject: (e: Error) => void }>();
  private job: ReadHandlers | undefined;
  private closed = false;

  constructor() {
    this.worker = new Worker(packWorkerSource.current, { eval: true });
    // Idle, it must not keep the CLI alive; while it works, its messages do.
    this.worker.unref();
    this.worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.worker.on('error', (e) => this.fail(new Error(`The packaging worker thread failed: ${e.message}`)));
    this.worker.on('exit', (code) => { if (!this.closed) this.fail(new Error(`The packaging worker thread stopped unexpectedly (exit code ${code}).`)); });
  }

  /** List folders (a scan.ts ListDirs): entries with their kinds, regular files stat'ed (fs.stat). */
  listDirs(absDirs: string[], each: (index: number, listing: DirListing | { error: string }) => void): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.lists.set(id, { each, resolve, reject });
      this.busy();
      this.worker.postMessage({ t: 'list', id, dirs: absDirs });
    });
  }

  /** Start reading `job.files` in order; results arrive through `handlers`. One job per worker. */
  read(job: ReadJob, handlers: ReadHandlers): void {
    if (this.failure) { handlers.onError(this.failure); return; }
    if (this.job) throw new Error('PackWorker: one read job at a time');
    this.job = handlers;
    this.busy();
    this.worker.postMessage({ t: 'read', ...job });
  }

  /** Stop the thread (idempotent). Does not wait for a read blocked in the file system. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopped = new Error('The packaging worker was closed.');
    this.failure ??= stopped;
    for (const s of this.lists.values()) s.reject(stopped);
    this.lists.clear();
    this.job = undefined;
    await this.worker.terminate();
  }

  private busy(): void { this.worker.ref(); }

  private idleIfDone(): void { if (!this.lists.size && !this.job) this.worker.unref(); }

  private onMessage(m: WorkerMessage): void {
    switch (m.t) {
      case 'listing': {
        const p = this.lists.get(m.id);
        const l = m.listing;
        if (!p) return;
        try {
          if ('error' in l) return p.each(m.index, l);
          const statErrors: Array<string | null> = l.names.map(() => null);
          for (let k = 0; k < l.errors.length; k += 2) statErrors[l.errors[k] as number] = l.errors[k + 1] as string;
          p.each(m.index, { names: l.names, kinds: Array.from(l.kinds, (c) => KINDS[c]!), size: Array.from(l.size), mtimeMs: Array.from(l.mtimeMs), statErrors });
        } catch (e) {
          this.lists.delete(m.id);
          this.idleIfDone();
          p.reject(e as Error);
        }
        return;
      }
      case 'listed': {
        const p = this.lists.get(m.id);
        if (!p) return;
        this.lists.delete(m.id);
        this.idleIfDone();
        p.resolve();
        return;
      }
      case 'pieces': this.job?.onPieces(m.pieces, m.shas); return;
      case 'done': {
        const job = this.job;
        this.job = undefined;
        this.idleIfDone();
        job?.onDone();
        return;
      }
      case 'error': {
        const job = this.job;
        this.job = undefined;
        this.idleIfDone();
        const e = m.error;
        job?.onError(new PackFileError(e.message, e.code, e.path, e.syscall));
      }
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const s of this.lists.values()) s.reject(e);
    this.lists.clear();
    const job = this.job;
    this.job = undefined;
    job?.onError(e);
  }
}

type WorkerMessage =
  | { t: 'listing'; id: number; index: number; listing: { error: string } | { names: string[]; kinds: string; size: Float64Array; mtimeMs: Float64Array; errors: Array<number | string> } }
  | { t: 'listed'; id: number }
  | { t: 'pieces'; pieces: number[]; shas: Array<number | string> }
  | { t: 'done' }
  | { t: 'error'; error: { message: string; code?: string; path?: string; syscall?: string } };

const KINDS: Record<string, EntryKind> = { d: 'dir', f: 'file', l: 'symlink', o: 'other' };

/** The control words shared with the worker (see the ring protocol above). */
export function newControl(): SharedArrayBuffer {
  return new SharedArrayBuffer(CTL_WORDS * 4);
}
