import { Readable } from 'node:stream';
import type { ZipFile } from 'yazl';
import { abortError, throwIfAborted } from './abort';
import { installFastCrc32 } from './fast-crc32';
import { FileWriter } from './file-writer';
import { shouldStore } from './media';
import { CTL_ABORT, CTL_CONSUMED, newControl, PackWorker } from './pack-worker';

export interface ZipFileInput {
  archivePath: string;
  absPath: string;
  size: number;
  mtimeMs: number;
  /** From the hash cache; when absent the sha256 is computed from the bytes as they are zipped. */
  knownSha256?: string;
}

export interface ZipBuffer { archivePath: string; data: Buffer }

/** The shared read ring (see pack-worker.ts): sizes in bytes; `size` a power of two, pieces at most size/2. */
export interface RingGeometry {
  size: number;
  /** Files up to this size are one piece, handed to yazl whole (no stream per entry). */
  wholeMax: number;
  /** Larger files are streamed in pieces of this size. */
  pieceMax: number;
  /** Read (and hash) step inside a piece. */
  readMax: number;
  /** The worker hands pieces over once this many bytes or pieces are pending (or 5 ms passed). */
  flushBytes: number;
  flushPieces: number;
}

// 8 MiB in flight at most: memory stays flat, the worker runs ahead of the writes, and the ring stays in
// the CPU cache (32 MiB measured no faster, and 24 MB more resident).
export const DEFAULT_RING: RingGeometry = {
  size: 8 * 1024 * 1024, wholeMax: 4 * 1024 * 1024, pieceMax: 2 * 1024 * 1024, readMax: 256 * 1024, flushBytes: 2 * 1024 * 1024, flushPieces: 64,
};

export interface WriteZipOptions {
  /** Small entries written first (configs). */
  head: ZipBuffer[];
  files: ZipFileInput[];
  /** Entries written last, built once every file's sha256 is known (manifest.json). */
  tail: (sha256s: string[]) => ZipBuffer[];
  signal?: AbortSignal;
  onBytes?: (bytesDone: number) => void;
  /** The packaging worker to read with (the caller closes it); without one, one is started and closed here. */
  worker?: PackWorker;
  /** Ring geometry; tests use a tiny ring to exercise wrap-around and waiting. */
  ring?: Partial<RingGeometry>;
}

// Entries carry a fixed timestamp for configs so their bytes only change when their content does.
const FIXED_MTIME = new Date('2020-01-01T00:00:00Z');

/**
 * Stream a zip to `outPath` with yazl, with memory flat whatever the dataset size. The files are read
 * (and hashed when their sha256 is not cached) once, on the packaging worker, into a shared ring; yazl
 * takes the ring bytes as they are: a file that fits in one piece as a buffer (CRC and header, no
 * stream), a larger one, or one to deflate, as a stream of pieces. A piece's ring space is handed back
 * once its bytes are in the output file (or, for deflate, copied into zlib's input). Media already
 * compressed is stored.
 *
 * (Two workers sharing the files were tried: on two cores the main thread and the kernel's writes then
 * fall behind, and the whole was slower.)
 */
export async function writeZip(outPath: string, opts: WriteZipOptions): Promise<{ sha256s: string[]; zipBytes: number }> {
  installFastCrc32();
  throwIfAborted(opts.signal);
  const geo = ringGeometry(opts.ring);
  const files = opts.files;
  const worker = opts.worker ?? new PackWorker();
  const ringSab = new SharedArrayBuffer(geo.size);
  const ring = Buffer.from(ringSab);
  const ctlSab = newControl();
  const ctl = new Int32Array(ctlSab);
  let bytesDone = 0;
  const pieces = new PieceQueue(ctl, (len) => { if (len) opts.onBytes?.((bytesDone += len)); });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const zip = new (require('yazl') as typeof import('yazl')).ZipFile(); // loaded on first packaging, not at activation
  const written = new WrittenEntries(zip);
  const out = new FileWriter(outPath, (chunks) => {
    for (const c of chunks) if (c.buffer === ringSab) pieces.written(c);
  });

  let fail!: (e: unknown) => void;
  const failed = new Promise<never>((_, reject) => { fail = reject; });
  failed.catch(() => undefined);
  const onAbort = () => fail(abortError(opts.signal));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  zip.on('error', (e) => fail(e));
  out.on('error', (e) => fail(e));
  zip.outputStream.on('error', (e) => fail(e));
  const closed = new Promise<void>((resolve) => out.on('close', resolve));
  zip.outputStream.pipe(out);

  const sha256s = files.map((f) => f.knownSha256 ?? '');
  // The file being fed (its entry added, more pieces to come), and the next file to add.
  let stream: PieceStream | undefined;
  let nextFile = 0;
  const onPieces = (list: number[], shas: Array<number | string>): void => {
    for (let k = 0; k < list.length; k += 5) {
      const i = list[k]!, piece = pieces.add(list[k + 1]!, list[k + 2]!, list[k + 3]!), last = list[k + 4] === 1;
      if (i !== (stream ? nextFile - 1 : nextFile)) throw new Error(`internal error: piece of file ${i} out of order`);
      if (!stream) {
        // The first piece of the next file: add its entry (yazl writes entries in the order added).
        const f = files[nextFile++]!;
        const stored = shouldStore(f.archivePath, f.size);
        const entry = { compress: !stored, mtime: new Date(f.mtimeMs) };
        if (stored && last) {
          if (piece.len === 0) {
            zip.addBuffer(Buffer.alloc(0), f.archivePath, entry);
            pieces.done(piece);
          } else zip.addBuffer(ring.subarray(piece.off, piece.off + piece.len), f.archivePath, entry);
          continue;
        }
        const s = new PieceStream(ring, pieces, !stored);
        s.on('error', (e) => fail(e));
        stream = s;
        zip.addReadStreamLazy(f.archivePath, { ...entry, size: f.size }, (cb) => cb(null, s));
      }
      stream!.add(piece, last);
      if (last) stream = undefined;
    }
    for (let k = 0; k < shas.length; k += 2) sha256s[shas[k] as number] = shas[k + 1] as string;
    written.setAside();
  };

  try {
    for (const b of opts.head) zip.addBuffer(b.data, b.archivePath, { compress: !shouldStore(b.archivePath, b.data.length), mtime: FIXED_MTIME });
    const read = new Promise<void>((resolve, reject) => {
      worker.read({ ring: ringSab, ctl: ctlSab, files: files.map((f) => ({ path: f.absPath, size: f.size, hash: !f.knownSha256 })), ...geo }, {
        onPieces: (list, shas) => { try { onPieces(list, shas); } catch (e) { fail(e); } },
        onDone: resolve,
        onError: reject,
      });
    });
    await Promise.race([read, failed]);
    if (nextFile !== files.length || stream) throw new Error(`internal error: the packaging worker delivered ${nextFile} of ${files.length} files`);
    written.restore();
    for (const b of opts.tail(sha256s)) zip.addBuffer(b.data, b.archivePath, { compress: !shouldStore(b.archivePath, b.data.length), mtime: FIXED_MTIME });
    zip.end();
    await Promise.race([closed, failed]);
    return { sha256s, zipBytes: out.bytesWritten };
  } catch (e) {
    // Stop the worker between pieces, tear the pipeline down, and only return once the output file is
    // closed, so the caller's removal of it cannot race a late open or write.
    Atomics.store(ctl, CTL_ABORT, 1);
    Atomics.notify(ctl, CTL_CONSUMED);
    stream?.destroy();
    zip.outputStream.unpipe(out);
    out.destroy();
    await closed;
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (!opts.worker) await worker.close();
  }
}

function ringGeometry(over: Partial<RingGeometry> = {}): RingGeometry {
  const g = { ...DEFAULT_RING, ...over };
  if (g.size < 2 || (g.size & (g.size - 1)) !== 0 || g.size > 2 ** 30) throw new Error(`ring size must be a power of two up to 1 GiB, not ${g.size}`);
  if (g.wholeMax > g.size / 2 || g.pieceMax > g.size / 2 || g.pieceMax < 1 || g.readMax < 1) throw new Error('ring pieces must be between 1 byte and half the ring');
  return g;
}

/** yazl's Entry.FILE_DATA_DONE (yazl 3.x): the entry's header and data are in the output stream. */
const YAZL_FILE_DATA_DONE = 3;

/**
 * yazl finds the next entry to write by scanning its whole entry list from the start, once per entry:
 * O(n²) over a package (80 ms of main-thread time for 6,000 files, minutes for 100,000). Entries it has
 * finished are set aside while the files stream, and put back, in order, before the central directory.
 * Without the internals this relies on (an `entries` array of objects with a numeric `state`), it
 * does nothing.
 */
class WrittenEntries {
  private aside: unknown[][] = [];

  constructor(private readonly zip: ZipFile) {}

  private get list(): Array<{ state?: unknown }> | undefined {
    const list = (this.zip as unknown as { entries?: unknown }).entries;
    return Array.isArray(list) ? list : undefined;
  }

  setAside(): void {
    const list = this.list;
    if (!list || list.length < 512) return;
    let n = 0;
    while (n < list.length && list[n]!.state === YAZL_FILE_DATA_DONE) n++;
    if (n >= 256) this.aside.push(list.splice(0, n));
  }

  restore(): void {
    const list = this.list;
    if (list && this.aside.length) (this.zip as unknown as { entries: unknown[] }).entries = ([] as unknown[]).concat(...this.aside, list);
    this.aside = [];
  }
}

interface Piece { off: number; len: number; end: number; done: boolean }

/**
 * The pieces the worker placed in the ring, in ring order. The worker may reuse ring space up to the end
 * of the longest done prefix; a stored piece is done once written to the zip file (the writer reports
 * every ring-backed chunk it wrote, in ring order), a piece to deflate once copied into zlib's input.
 */
class PieceQueue {
  private items: Piece[] = [];
  private head = 0;

  constructor(private readonly ctl: Int32Array, private readonly onDone: (len: number) => void) {}

  add(off: number, len: number, end: number): Piece {
    const p = { off, len, end, done: false };
    this.items.push(p);
    return p;
  }

  done(p: Piece): void {
    if (p.done) return;
    p.done = true;
    this.onDone(p.len);
    let end: number | undefined;
    while (this.head < this.items.length && this.items[this.head]!.done) end = this.items[this.head++]!.end;
    if (end === undefined) return;
    if (this.head >= 1024) { this.items = this.items.slice(this.head); this.head = 0; }
    Atomics.store(this.ctl, CTL_CONSUMED, end);
    Atomics.notify(this.ctl, CTL_CONSUMED);
  }

  /** A ring-backed chunk is in the output file. */
  written(chunk: Buffer): void {
    for (let k = this.head; k < this.items.length; k++) {
      const p = this.items[k]!;
      if (!p.done && p.off === chunk.byteOffset && p.len === chunk.length) return this.done(p);
    }
    throw new Error(`internal error: written ring bytes (offset ${chunk.byteOffset}, ${chunk.length} bytes) match no pending piece`);
  }
}

/**
 * One zip entry's bytes as they arrive from the worker. Stored entries get the ring bytes themselves;
 * deflated ones a copy made when zlib asks for more (zlib's asynchronous input must not be ring space
 * the worker may reuse, and copying on demand keeps their memory bounded).
 */
class PieceStream extends Readable {
  private readonly pending: Piece[] = [];
  private complete = false;
  private ended = false;
  private wanted = false;

  constructor(private readonly ring: Buffer, private readonly queue: PieceQueue, private readonly copy: boolean) {
    super({ highWaterMark: 1024 * 1024 });
  }

  add(p: Piece, last: boolean): void {
    this.pending.push(p);
    if (last) this.complete = true;
    if (this.wanted) this.pump();
  }

  override _read(): void {
    this.wanted = true;
    this.pump();
  }

  private pump(): void {
    while (this.wanted && this.pending.length) {
      const p = this.pending.shift()!;
      let chunk = this.ring.subarray(p.off, p.off + p.len);
      if (this.copy) {
        chunk = Buffer.from(chunk);
        this.queue.done(p);
      }
      this.wanted = this.push(chunk);
    }
    if (this.complete && !this.pending.length && !this.ended) {
      this.ended = true;
      this.push(null);
    }
  }
}
