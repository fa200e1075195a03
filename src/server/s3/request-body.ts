import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { S3Error } from './errors';

/** How long a request body may send nothing before it is answered `RequestTimeout` (S3 gives up after about 20 s). */
export const DEFAULT_IDLE_TIMEOUT_MS = 20_000;

export const requestTimeout = (): S3Error =>
  new S3Error('RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.', 400);

/**
 * A request's body as a stream of its own, with an idle timer: a body that stalls below its length
 * ends the stream with `RequestTimeout` instead of holding the socket and a temp file forever.
 *
 * It is detached from the request on purpose: `pipeline` destroys every stream on an error, and a
 * destroyed `IncomingMessage` destroys its socket, so the client would get a reset instead of S3's
 * error. Destroying this stream only stops reading; the answer then goes out with `Connection: close`.
 */
export class RequestBody extends Readable {
  private readonly timer: NodeJS.Timeout;
  private ended = false;

  /**
   * `tap` sees each chunk before it is passed on; a throw ends the body with that error. While `gate`
   * is blocked (the hash worker is behind) the socket is not read.
   */
  constructor(private readonly req: IncomingMessage, idleMs: number, private readonly tap?: (chunk: Buffer) => void,
    private readonly gate?: { blocked(): boolean; whenOpen(cb: () => void): void }) {
    super({ highWaterMark: 1024 * 1024 });
    this.timer = setTimeout(() => this.destroy(requestTimeout()), idleMs);
    req.on('data', this.onData);
    req.on('end', this.onEnd);
    req.on('error', this.onError);
    req.on('close', this.onClose);
  }

  override _read(): void {
    this.req.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.timer.refresh();
    if (this.tap) {
      try {
        this.tap(chunk);
      } catch (e) {
        this.destroy(e as Error);
        return;
      }
    }
    const more = this.push(chunk);
    if (this.gate?.blocked()) {
      this.req.pause();
      this.gate.whenOpen(() => {
        if (!this.destroyed && this.readableLength < this.readableHighWaterMark) this.req.resume();
      });
    } else if (!more) {
      this.req.pause();
    }
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    clearTimeout(this.timer);
    this.push(null);
  };

  private readonly onError = (e: Error): void => {
    this.destroy(e);
  };

  private readonly onClose = (): void => {
    // The client went away mid-body.
    if (!this.ended && !this.destroyed) this.destroy(Object.assign(new Error('request body cut off'), { code: 'ECONNRESET' }));
  };

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.req.off('error', this.onError);
    this.req.off('close', this.onClose);
    // Stop reading what is left: the answer closes the connection.
    this.req.pause();
    cb(err);
  }
}
