import { createHash, Hash } from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';
import { S3Error } from './errors';
import { EMPTY_SHA256, SigningContext, chunkSignature, signaturesEqual, trailerSignature } from './sigv4';

/**
 * Decodes an `aws-chunked` body as S3 clients send it:
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]:  `<hex>;chunk-signature=<sig>\r\n<data>\r\n` … `0;chunk-signature=<sig>\r\n`
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER:           `<hex>\r\n<data>\r\n` … `0\r\n`
 * then optional trailer lines (`x-amz-checksum-crc32:<b64>`, `x-amz-trailer-signature:<sig>`) and `\r\n`.
 * Each chunk signature is checked against the previous one (seeded by the request signature) before
 * its data is passed on, so a tampered chunk never reaches the file. Data slices are passed through
 * without copying.
 */
export class AwsChunkedDecoder extends Transform {
  readonly trailers = new Map<string, string>();
  decodedBytes = 0;

  private state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'done' = 'size';
  private line = '';
  private remaining = 0;
  private crlfLeft = 0;
  private chunkHash: Hash | undefined;
  private expectedChunkSig = '';
  private previousSig: string;

  constructor(private readonly signing: SigningContext | undefined, private readonly signedTrailer = false) {
    super();
    this.previousSig = signing?.seedSignature ?? '';
  }

  override _transform(buf: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.consume(buf);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    // A client may omit the final CRLF after the last trailer; anything short of the last chunk is incomplete.
    if (this.state === 'done' || (this.state === 'trailer' && this.line === '')) {
      try {
        if (this.state === 'trailer') this.finishTrailer();
        cb();
      } catch (e) {
        cb(e as Error);
      }
    } else {
      cb(new S3Error('IncompleteBody', 'The request body ended before the last aws-chunked chunk.', 400));
    }
  }

  private consume(buf: Buffer): void {
    let pos = 0;
    while (pos < buf.length) {
      switch (this.state) {
        case 'size':
        case 'trailer': {
          const nl = buf.indexOf(0x0a, pos);
          const end = nl < 0 ? buf.length : nl;
          this.line += buf.toString('latin1', pos, end);
          if (this.line.length > 8192) throw malformed('chunk header line too long');
          pos = end;
          if (nl < 0) break;
          pos = nl + 1;
          const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
          this.line = '';
          if (this.state === 'size') this.onSizeLine(line);
          else this.onTrailerLine(line);
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, buf.length - pos);
          const slice = buf.subarray(pos, pos + n);
          this.chunkHash?.update(slice);
          // Signed chunks are held back until their signature checks out; unsigned ones stream on.
          if (this.signing) this.pending.push(slice);
          else this.push(slice);
          this.remaining -= n;
          this.decodedBytes += n;
          pos += n;
          if (this.remaining === 0) {
            this.state = 'data-crlf';
            this.crlfLeft = 2;
          }
          break;
        }
        case 'data-crlf': {
          const expected = this.crlfLeft === 2 ? 0x0d : 0x0a;
          if (buf[pos] !== expected) throw malformed('missing CRLF after chunk data');
          pos++;
          if (--this.crlfLeft === 0) {
            this.endChunk();
            this.state = 'size';
          }
          break;
        }
        case 'done':
          // Bytes after the terminating CRLF are ignored, as S3 does.
          return;
      }
    }
  }

  private pending: Buffer[] = [];

  private onSizeLine(line: string): void {
    const semi = line.indexOf(';');
    const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
    if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) throw malformed('bad chunk size');
    const size = parseInt(hex, 16);
    if (this.signing) {
      const m = /;chunk-signature=([0-9a-f]{64})$/.exec(line);
      if (!m) throw malformed('missing chunk-signature');
      this.expectedChunkSig = m[1]!;
      this.chunkHash = size > 0 ? createHash('sha256') : undefined;
    }
    if (size === 0) {
      if (this.signing) this.checkChunkSignature(EMPTY_SHA256);
      this.state = 'trailer';
      return;
    }
    this.remaining = size;
    this.state = 'data';
  }

  private endChunk(): void {
    if (!this.signing) return;
    this.checkChunkSignature(this.chunkHash!.digest('hex'));
    for (const b of this.pending) this.push(b);
    this.pending = [];
  }

  private checkChunkSignature(dataSha256: string): void {
    const expected = chunkSignature(this.signing!, this.previousSig, dataSha256);
    if (!signaturesEqual(expected, this.expectedChunkSig)) {
      throw new S3Error('SignatureDoesNotMatch', 'A chunk signature of the aws-chunked body does not match.', 403);
    }
    this.previousSig = this.expectedChunkSig;
  }

  private onTrailerLine(line: string): void {
    if (line === '') {
      this.finishTrailer();
      this.state = 'done';
      return;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('bad trailer line');
    this.trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }

  private finishTrailer(): void {
    if (!this.signedTrailer) return;
    const sig = this.trailers.get('x-amz-trailer-signature');
    if (!sig) throw new S3Error('SignatureDoesNotMatch', 'The trailer signature is missing.', 403);
    const text = [...this.trailers].filter(([k]) => k !== 'x-amz-trailer-signature').map(([k, v]) => `${k}:${v}\n`).join('');
    if (!signaturesEqual(trailerSignature(this.signing!, this.previousSig, text), sig)) {
      throw new S3Error('SignatureDoesNotMatch', 'The trailer signature does not match.', 403);
    }
  }
}

const malformed = (why: string): S3Error => new S3Error('InvalidRequest', `Malformed aws-chunked body: ${why}`, 400);
