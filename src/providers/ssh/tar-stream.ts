import { Readable } from 'node:stream';
import { MessageChannel, Worker } from 'node:worker_threads';
import { tarHeader, type TarEntry } from './tar-header';

/**
 * The tar stream of a sync, produced on a worker thread: reading the files (synchronous reads are
 * fine off the main thread and cost a fraction of async round trips for thousands of small files)
 * and hashing them (sha256) happen there, so the main thread only encrypts and sends. Chunks come
 * back as transferred ArrayBuffers (no copy), at most WINDOW ahead of what the channel consumed.
 */

const CHUNK = 1024 * 1024;
const WINDOW = 6;
// Control words shared with the worker: chunks acknowledged by the reader, and a stop flag.
const ACKED = 0;
const STOP = 1;

// Inline source: the extension and CLI are single-file bundles, so the worker cannot be a module.
const WORKER_SOURCE = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const { entries, headers, ctrl: sab, chunk: CHUNK, window: WINDOW, recycled } = workerData;
const ctrl = new Int32Array(sab);
let buf = new Uint8Array(CHUNK), at = 0, sent = 0;
const stopped = () => Atomics.load(ctrl, ${STOP}) !== 0;
function flush() {
  if (!at) return;
  while (sent - Atomics.load(ctrl, ${ACKED}) >= WINDOW) {
    if (stopped()) throw new Error('stopped');
    Atomics.wait(ctrl, ${ACKED}, Atomics.load(ctrl, ${ACKED}), 1000);
  }
  const out = buf.buffer;
  parentPort.postMessage({ t: 'chunk', buf: out, len: at }, [out]);
  sent++;
  // Reuse a buffer the consumer has finished with, if one came back; allocating 1 MiB per chunk
  // (zeroed, then garbage-collected) costs more than everything else on the main thread.
  const back = receiveMessageOnPort(recycled);
  buf = back && back.message.byteLength === CHUNK ? new Uint8Array(back.message) : new Uint8Array(CHUNK);
  at = 0;
}
function put(bytes) {
  for (let off = 0; off < bytes.length;) {
    const n = Math.min(bytes.length - off, CHUNK - at);
    buf.set(bytes.subarray(off, off + n), at);
    at += n; off += n;
    if (at === CHUNK) flush();
  }
}
try {
  for (let i = 0; i < entries.length; i++) {
    if (stopped()) throw new Error('stopped');
    const e = entries[i];
    put(headers[i]);
    const h = createHash('sha256');
    if (e.size > 0) {
      const fd = fs.openSync(e.absPath, 'r');
      try {
        for (let pos = 0; pos < e.size;) {
          const want = Math.min(e.size - pos, CHUNK - at);
          const n = fs.readSync(fd, buf, at, want, pos);
          if (n === 0) throw new Error(e.absPath + ' changed size while uploading (expected ' + e.size + ' bytes, found ' + pos + ')');
          h.update(buf.subarray(at, at + n));
          at += n; pos += n;
          if (at === CHUNK) flush();
        }
      } finally { fs.closeSync(fd); }
      const pad = (512 - (e.size % 512)) % 512;
      if (pad) put(new Uint8Array(pad));
    }
    parentPort.postMessage({ t: 'file', index: i, sha: h.digest('hex'), bytes: e.size });
  }
  put(new Uint8Array(1024));
  flush();
  parentPort.postMessage({ t: 'end' });
} catch (err) {
  parentPort.postMessage({ t: 'error', message: err && err.message || String(err) });
}
`;

/**
 * The archive's chunks. A consumer that knows when it is done with a chunk (its write callback ran)
 * may hand it back with `recycle` so the worker refills it; others simply let it be collected.
 */
export type RecyclingReadable = Readable & { recycle(chunk: Buffer): void };

/** `recycle` when the source offers it (see RecyclingReadable). */
export function recycleChunk(source: unknown, chunk: Buffer): void {
  (source as Partial<RecyclingReadable>).recycle?.(chunk);
}

type WorkerMessage =
  | { t: 'chunk'; buf: ArrayBuffer; len: number }
  | { t: 'file'; index: number; sha: string; bytes: number }
  | { t: 'end' }
  | { t: 'error'; message: string };

/**
 * A Readable of the tar archive of `entries` (headers from tar-header.ts). `onFile` gets
 * each file's sha256 as it is read, `onBytes` the file bytes read so far.
 */
export function tarReadable(
  entries: readonly TarEntry[],
  onFile: (e: TarEntry, sha256: string) => void,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): RecyclingReadable {
  const ctrlBuf = new SharedArrayBuffer(8);
  const ctrl = new Int32Array(ctrlBuf);
  const recycling = new MessageChannel();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      entries: entries.map((e) => ({ absPath: e.absPath, size: e.size })),
      headers: entries.map((e) => tarHeader(e)),
      ctrl: ctrlBuf, chunk: CHUNK, window: WINDOW, recycled: recycling.port2,
    },
    transferList: [recycling.port2],
  });
  const queue: Buffer[] = [];
  let ended = false;
  let wanted = false;
  let finished = false;

  const stop = () => {
    if (finished) return;
    finished = true;
    recycling.port1.close();
    Atomics.store(ctrl, STOP, 1);
    Atomics.notify(ctrl, ACKED);
    signal?.removeEventListener('abort', onAbort);
    void worker.terminate();
  };
  const hand = () => {
    while (wanted && queue.length) {
      const b = queue.shift()!;
      Atomics.add(ctrl, ACKED, 1);
      Atomics.notify(ctrl, ACKED);
      wanted = readable.push(b);
    }
    if (wanted && ended && !queue.length) {
      stop();
      readable.push(null);
    }
  };
  const readable = Object.assign(new Readable({
    highWaterMark: 2 * CHUNK,
    read() { wanted = true; hand(); },
    destroy(err, cb) { stop(); cb(err); },
  }), {
    recycle(chunk: Buffer) {
      if (!finished && chunk.byteOffset === 0 && chunk.buffer.byteLength === CHUNK && !(chunk.buffer instanceof SharedArrayBuffer)) {
        const ab = chunk.buffer as ArrayBuffer;
        recycling.port1.postMessage(ab, [ab]);
      }
    },
  });
  const onAbort = () => readable.destroy(signal?.reason instanceof Error ? signal.reason : new Error('Sync cancelled'));
  if (signal?.aborted) queueMicrotask(onAbort);
  else signal?.addEventListener('abort', onAbort, { once: true });

  worker.on('message', (m: WorkerMessage) => {
    if (finished) return;
    switch (m.t) {
      case 'chunk': queue.push(Buffer.from(m.buf, 0, m.len)); hand(); break;
      case 'file': onBytes(m.bytes); onFile(entries[m.index]!, m.sha); break;
      case 'end': ended = true; hand(); break;
      case 'error': readable.destroy(new Error(m.message)); break;
    }
  });
  worker.on('error', (e) => readable.destroy(e));
  worker.on('exit', (code) => { if (!finished && !ended) readable.destroy(new Error(`tar worker exited (${code})`)); });
  return readable;
}
