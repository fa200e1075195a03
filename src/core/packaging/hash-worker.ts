import { Worker } from 'node:worker_threads';

// Inline source: the extension and CLI are single-file bundles, so the worker cannot be a separate module.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.t === 'start') hashes.set(m.id, createHash('sha256'));
  else if (m.t === 'data') {
    hashes.get(m.id).update(new Uint8Array(m.sab, 0, m.len));
    parentPort.postMessage({ t: 'done-chunk', slot: m.slot });
  } else if (m.t === 'end') {
    parentPort.postMessage({ t: 'digest', id: m.id, hex: hashes.get(m.id).digest('hex') });
    hashes.delete(m.id);
  }
});
`;

/**
 * sha256 on a second core. Chunks live in SharedArrayBuffers (see BufferPool), so the worker reads
 * the very bytes the zip writer writes: no copy, and the main thread keeps reading, CRC-ing and
 * writing while the worker hashes. `onChunkDone` hands each chunk's pool slot back once hashed (a SharedArrayBuffer
 * arrives as a new object in each thread, so slots, not identities, name the buffers).
 */
export class HashWorker {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true });
  private readonly pending = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failed: Error | undefined;

  constructor(onChunkDone: (slot: number) => void) {
    this.worker.on('message', (m: { t: string; id?: number; hex?: string; slot?: number }) => {
      if (m.t === 'done-chunk') onChunkDone(m.slot!);
      else if (m.t === 'digest') { this.pending.get(m.id!)?.resolve(m.hex!); this.pending.delete(m.id!); }
    });
    const fail = (e: Error) => {
      this.failed = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => { if (this.pending.size) fail(new Error(`hash worker exited (${code})`)); });
  }

  /** Start hashing one file; feed it chunks in order, then `end()` resolves the hex digest. */
  begin(): { update(chunk: Buffer, slot: number): void; end(): Promise<string> } {
    const id = this.nextId++;
    this.worker.postMessage({ t: 'start', id });
    return {
      update: (chunk, slot) => this.worker.postMessage({ t: 'data', id, slot, sab: chunk.buffer, len: chunk.length }),
      end: () => new Promise<string>((resolve, reject) => {
        if (this.failed) return reject(this.failed);
        this.pending.set(id, { resolve, reject });
        this.worker.postMessage({ t: 'end', id });
      }),
    };
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
