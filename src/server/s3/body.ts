import { createHash, Hash, randomUUID } from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';
import { AwsChunkedDecoder } from './chunked';
import { RunningChecksum, checksumAlgorithmOfHeader, createChecksum } from './checksums';
import { S3Error } from './errors';
import type { ParsedAuth, SigningContext } from './sigv4';

/**
 * Turns a request body into the object's bytes plus the checks to run once it has all arrived:
 * aws-chunked decoding (signed or with trailers), the payload SHA-256 the client signed, Content-MD5,
 * and any x-amz-checksum-* (header or trailer). The ETag (MD5) is computed in the same pass.
 */
export interface DecodedBody {
  /** Pipe these in order: request → …stages → sink. */
  stages: Transform[];
  /** Throws the S3 error for a body that does not match what the client declared. */
  verify(): BodyFacts;
}

export interface BodyFacts {
  size: number;
  /** MD5 of the body when computed, else a content-derived stand-in (see `decodeBody`). */
  etagHex: string;
  etagIsMd5: boolean;
  checksums: Record<string, string>;
}

class Digester extends Transform {
  size = 0;
  constructor(readonly md5: Hash | undefined, readonly sha256: Hash | undefined, readonly checksum: RunningChecksum | undefined) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    this.md5?.update(chunk);
    this.sha256?.update(chunk);
    this.checksum?.update(chunk);
    cb(null, chunk);
  }
}

export const MAX_OBJECT_BYTES = 5 * 1024 ** 3;

/**
 * `etag: 'md5'` computes the MD5 S3 uses as a single object's ETag (some tools compare it). Parts of a
 * multipart upload have opaque ETags to clients, so there we skip MD5 (the slowest hash here, and
 * the payload SHA-256 is computed anyway) and derive the ETag from the SHA-256 or the checksum.
 */
export function decodeBody(headers: Map<string, string>, auth: ParsedAuth | null, signing: SigningContext | null, etag: 'md5' | 'cheap' = 'md5'): DecodedBody {
  const payload = auth?.payload ?? { kind: 'unsigned' as const };
  const streaming = payload.kind === 'streaming-signed' || payload.kind === 'streaming-unsigned-trailer';
  const decodedLength = headers.get('x-amz-decoded-content-length');
  const declared = streaming ? (decodedLength === undefined ? undefined : Number(decodedLength)) : numberOrUndefined(headers.get('content-length'));
  if (declared !== undefined && (!Number.isSafeInteger(declared) || declared < 0)) {
    throw new S3Error('InvalidArgument', 'Bad content length', 400);
  }
  if (declared !== undefined && declared > MAX_OBJECT_BYTES) {
    throw new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
  }

  // Which flexible checksum to compute: a header value we know now, or a trailer announced by x-amz-trailer.
  let checksumName: string | undefined;
  let checksumExpected: string | undefined;
  for (const [name, value] of headers) {
    const alg = checksumAlgorithmOfHeader(name);
    if (alg) { checksumName = name; checksumExpected = value; }
  }
  const trailerName = headers.get('x-amz-trailer')?.toLowerCase();
  if (trailerName && checksumAlgorithmOfHeader(trailerName)) checksumName = trailerName;
  const sha256 = payload.kind === 'sha256' ? createHash('sha256') : undefined;
  // A part whose SHA-256 we verify is exactly what the client signed; its (unstored) checksum adds nothing.
  const skipChecksum = etag === 'cheap' && sha256 !== undefined;
  const checksum = checksumName && !skipChecksum ? createChecksum(checksumAlgorithmOfHeader(checksumName)!) : undefined;
  const stages: Transform[] = [];
  let decoder: AwsChunkedDecoder | undefined;
  if (streaming) {
    decoder = new AwsChunkedDecoder(payload.kind === 'streaming-signed' ? signing ?? undefined : undefined,
      payload.kind === 'streaming-signed' && payload.trailer);
    stages.push(decoder);
  }
  const contentMd5 = headers.get('content-md5');
  const md5 = etag === 'md5' || contentMd5 !== undefined ? createHash('md5') : undefined;
  const digester = new Digester(md5, sha256, checksum);
  stages.push(digester);

  return {
    stages,
    verify(): BodyFacts {
      if (declared !== undefined && digester.size !== declared) {
        throw new S3Error('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.', 400);
      }
      const sha256Hex = sha256?.digest('hex');
      if (sha256Hex !== undefined && payload.kind === 'sha256' && sha256Hex !== payload.hex) {
        throw new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", 400);
      }
      const md5Digest = md5?.digest();
      if (contentMd5 !== undefined && contentMd5 !== md5Digest!.toString('base64')) {
        throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', 400);
      }
      const checksums: Record<string, string> = {};
      if (checksumName) {
        const expected = decoder?.trailers.get(checksumName) ?? checksumExpected;
        if (expected === undefined) throw new S3Error('InvalidRequest', `The ${checksumName} trailer is missing.`, 400);
        if (checksum) {
          const actual = checksum.digestBase64();
          if (actual !== expected) throw new S3Error('BadDigest', `The ${checksumName.slice(15).toUpperCase()} you specified did not match the calculated checksum.`, 400);
        }
        checksums[checksumName] = expected;
      }
      // Without MD5: the SHA-256 we verified, else the verified checksum, else (nothing content-derived) a random tag.
      const etagHex = md5Digest?.toString('hex')
        ?? sha256Hex?.slice(0, 32)
        ?? createHash('md5').update(Object.keys(checksums).length ? `${digester.size}:${JSON.stringify(checksums)}` : randomUUID()).digest('hex');
      return { size: digester.size, etagHex, etagIsMd5: md5Digest !== undefined, checksums };
    },
  };
}

function numberOrUndefined(v: string | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}

