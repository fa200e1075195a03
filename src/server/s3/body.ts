import { createHash } from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';
import { AwsChunkedDecoder } from './chunked';
import { CHECKSUM_ALGORITHMS, RunningChecksum, checksumAlgorithmOfHeader, createChecksum } from './checksums';
import { S3Error } from './errors';
import type { ParsedAuth, SigningContext } from './sigv4';
import { BodyDigests, HashPool, OFFLOAD_MIN_BYTES, OFFLOADED_CHECKSUMS, type OffloadedChecksum } from './hash-offload';

/**
 * Turns a request body into the object's bytes plus the checks to run once it has all arrived:
 * aws-chunked decoding (signed or with trailers), the payload SHA-256 the client signed, Content-MD5,
 * and the x-amz-checksum-* (header or trailer). The ETag (MD5) is computed in the same pass.
 */
export interface DecodedBody {
  /** Pipe these in order: request → …stages → sink. */
  stages: Transform[];
  /**
   * For a body that needs no decoding: run this on each chunk as it is read from the socket (it hashes
   * and counts, and throws to refuse), instead of a stage — a stream stage per chunk costs as much CPU
   * as the MD5 it would carry.
   */
  tap?: (chunk: Buffer) => void;
  /** The object's length as the client declared it (Content-Length, or x-amz-decoded-content-length for aws-chunked). */
  declaredLength: number | undefined;
  /** Rejects with the S3 error for a body that does not match what the client declared. */
  verify(): Promise<BodyFacts>;
  /** The body was not verified (refused, cut off): free what hashing it held. Safe to call after verify. */
  discard(): void;
  /** While true, stop reading the socket until `whenOpen` calls back (the hash worker is behind). */
  blocked(): boolean;
  whenOpen(cb: () => void): void;
}

export interface BodyFacts {
  size: number;
  /** MD5 of the body: S3's ETag of a single PUT and of a part. */
  etagHex: string;
  /** The verified `x-amz-checksum-<alg>` (at most one), by header name. */
  checksums: Record<string, string>;
}

/** MD5 and (when signed) SHA-256 of a body, on this thread or the pool's worker. */
interface Hashes {
  update(chunk: Buffer): void;
  digest(): Promise<BodyDigests>;
  discard(): void;
}

function inlineHashes(sha256: boolean): Hashes {
  const md5 = createHash('md5');
  const sha = sha256 ? createHash('sha256') : undefined;
  return {
    update(c) { md5.update(c); sha?.update(c); },
    digest: async () => ({ md5: md5.digest(), ...(sha ? { sha256Hex: sha.digest('hex') } : {}) }),
    discard() { /* nothing held */ },
  };
}

/** Hashes what passes, and refuses to pass more than `limit` bytes (a body past its declared length is refused before those bytes reach a file). */
class Digester {
  size = 0;
  constructor(readonly hashes: Hashes, readonly checksum: RunningChecksum | undefined,
    private readonly limit: number, private readonly tooLong: () => S3Error) {}

  /** Throws the S3 error when `chunk` would take the body past its limit. */
  take(chunk: Buffer): void {
    if (this.size + chunk.length > this.limit) throw this.tooLong();
    this.size += chunk.length;
    this.hashes.update(chunk);
    this.checksum?.update(chunk);
  }
}

/** The digester as a stream stage, after the aws-chunked decoder. */
class DigestStage extends Transform {
  constructor(private readonly digester: Digester, private readonly pool: HashPool | undefined) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    try {
      this.digester.take(chunk);
    } catch (e) {
      return cb(e as Error);
    }
    if (this.pool?.blocked()) this.pool.onceOpen(() => cb(null, chunk));
    else cb(null, chunk);
  }
}

/** S3's largest single PUT (and part): 5 GiB. */
export const MAX_OBJECT_BYTES = 5 * 1024 ** 3;

const entityTooLarge = (): S3Error => new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);

/**
 * `checksums: false`: the request's x-amz-checksum-* headers describe something else (CompleteMultipartUpload's object).
 * `maxObjectBytes`: the size cap (default `MAX_OBJECT_BYTES`).
 */
export function decodeBody(headers: Map<string, string>, auth: ParsedAuth | null, signing: SigningContext | null,
  opts: { checksums?: boolean; maxObjectBytes?: number; hashPool?: HashPool } = {}): DecodedBody {
  const maxBytes = opts.maxObjectBytes ?? MAX_OBJECT_BYTES;
  const payload = auth?.payload ?? { kind: 'unsigned' as const };
  const streaming = payload.kind === 'streaming-signed' || payload.kind === 'streaming-unsigned-trailer';
  const decodedLength = headers.get('x-amz-decoded-content-length');
  const declared = streaming ? numberOrUndefined(decodedLength) : numberOrUndefined(headers.get('content-length'));
  if (declared !== undefined && (!Number.isSafeInteger(declared) || declared < 0)) {
    throw new S3Error('InvalidArgument', 'Bad content length', 400);
  }
  if (declared !== undefined && declared > maxBytes) throw entityTooLarge();

  const { name: checksumName, expected: checksumExpected } = opts.checksums !== false ? checksumOf(headers) : {};
  const checksumAlg = checksumName ? checksumAlgorithmOfHeader(checksumName)! : undefined;
  const stages: Transform[] = [];
  let decoder: AwsChunkedDecoder | undefined;
  if (streaming) {
    decoder = new AwsChunkedDecoder(payload.kind === 'streaming-signed' ? signing ?? undefined : undefined,
      payload.kind === 'streaming-signed' && payload.trailer);
    stages.push(decoder);
  }
  const contentMd5 = headers.get('content-md5');
  const signedSha256 = payload.kind === 'sha256';
  const pool = opts.hashPool && (declared === undefined || declared >= OFFLOAD_MIN_BYTES) ? opts.hashPool : undefined;
  // CRC32 (what recent SDKs and the aws CLI send), SHA-1 and SHA-256 run on the worker with the rest.
  const offloaded = pool && (OFFLOADED_CHECKSUMS as readonly string[]).includes(checksumAlg ?? '') ? checksumAlg as OffloadedChecksum : undefined;
  const checksum = checksumAlg && !offloaded ? createChecksum(checksumAlg) : undefined;
  const hashes: Hashes = pool ? pool.body(signedSha256, offloaded) : inlineHashes(signedSha256);
  // Without a declared length (plain `Transfer-Encoding: chunked`) the cap is S3's size limit, counted as it streams.
  const digester = new Digester(hashes, checksum, declared ?? maxBytes, declared === undefined ? entityTooLarge
    : () => new S3Error('IncompleteBody', `The request body is longer than the ${streaming ? 'x-amz-decoded-content-length' : 'Content-Length'} it declared.`, 400));
  if (decoder) stages.push(new DigestStage(digester, pool));

  return {
    stages,
    tap: decoder ? undefined : (chunk) => digester.take(chunk),
    declaredLength: declared,
    discard: () => hashes.discard(),
    blocked: () => pool?.blocked() ?? false,
    whenOpen: (cb) => (pool ? pool.onceOpen(cb) : cb()),
    async verify(): Promise<BodyFacts> {
      if (declared !== undefined && digester.size !== declared) {
        hashes.discard();
        throw new S3Error('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.', 400);
      }
      const { md5: md5Digest, sha256Hex, checksumBase64 } = await hashes.digest();
      if (sha256Hex !== undefined && payload.kind === 'sha256' && sha256Hex !== payload.hex) {
        throw new S3Error('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", 400);
      }
      if (contentMd5 !== undefined && contentMd5 !== md5Digest.toString('base64')) {
        throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', 400);
      }
      const checksums: Record<string, string> = {};
      if (checksumName) {
        const expected = checksumExpected ?? decoder?.trailers.get(checksumName);
        if (expected === undefined) throw new S3Error('InvalidRequest', `The ${checksumName} trailer is missing.`, 400);
        if ((checksum ? checksum.digestBase64() : checksumBase64) !== expected) {
          throw new S3Error('BadDigest', `The ${checksumName.slice(15).toUpperCase()} you specified did not match the calculated checksum.`, 400);
        }
        checksums[checksumName] = expected;
      }
      return { size: digester.size, etagHex: md5Digest.toString('hex'), checksums };
    },
  };
}

/**
 * The one flexible checksum a request carries: an `x-amz-checksum-<alg>` header, or the trailer
 * `x-amz-trailer` announces. As on S3, more than one is refused ("Expecting a single x-amz-checksum-
 * header"), and so is an algorithm S3 does not define — never stored unverified.
 */
function checksumOf(headers: Map<string, string>): { name?: string; expected?: string } {
  const names = new Set<string>();
  let expected: string | undefined;
  for (const [name, value] of headers) {
    if (!checksumAlgorithmOfHeader(name)) continue;
    names.add(name);
    expected = value;
  }
  const trailer = headers.get('x-amz-trailer')?.toLowerCase().trim();
  if (trailer !== undefined) {
    if (trailer.includes(',') || !checksumAlgorithmOfHeader(trailer)) {
      throw new S3Error('InvalidRequest', 'The only trailer accepted is a single x-amz-checksum-<algorithm>.', 400);
    }
    if (names.size) throw multipleChecksums();
    names.add(trailer);
    expected = undefined;
  }
  if (names.size > 1) throw multipleChecksums();
  const sdkAlg = headers.get('x-amz-sdk-checksum-algorithm')?.toLowerCase();
  if (sdkAlg !== undefined && !(CHECKSUM_ALGORITHMS as readonly string[]).includes(sdkAlg)) {
    throw new S3Error('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.', 400);
  }
  const [name] = names;
  if (name === undefined) return {};
  const alg = checksumAlgorithmOfHeader(name)!;
  if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new S3Error('InvalidRequest', `The checksum algorithm ${alg} is not supported; use one of ${CHECKSUM_ALGORITHMS.join(', ')}.`, 400);
  }
  if (sdkAlg !== undefined && sdkAlg !== alg) throw multipleChecksums();
  return { name, expected };
}

const multipleChecksums = (): S3Error => new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.', 400);

function numberOrUndefined(v: string | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}
