import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { AwsChunkedDecoder } from '../../../src/server/s3/chunked';
import { decodeBody } from '../../../src/server/s3/body';
import { S3Error } from '../../../src/server/s3/errors';
import { createHash } from 'node:crypto';
import { chunkSignature, deriveSigningKey, parseAuth, parseRawQuery, rawHeaderMap, trailerSignature, verifyRequestSignature } from '../../../src/server/s3/sigv4';

// The worked examples of AWS's SigV4-for-S3 documentation (same keys, dates and expected signatures).
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const NOW = Date.parse('2013-05-24T00:00:00Z');

function headerMap(h: Record<string, string>): Map<string, string> {
  return rawHeaderMap(Object.entries(h).flat());
}

async function collect(decoder: AwsChunkedDecoder, body: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([body.subarray(0, 7), body.subarray(7, 70000), body.subarray(70000)]), decoder, new Writable({
    write(c, _e, cb) { out.push(c); cb(); },
  }));
  return Buffer.concat(out);
}

describe('SigV4 verification (AWS documentation examples)', () => {
  it('verifies the GET-object header example and rejects a changed header', () => {
    const headers = headerMap({
      Host: 'examplebucket.s3.amazonaws.com', Range: 'bytes=0-9',
      'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'x-amz-date': '20130524T000000Z',
      Authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    });
    const auth = parseAuth(headers, [])!;
    assert.equal(auth.accessKeyId, 'AKIAIOSFODNN7EXAMPLE');
    verifyRequestSignature({ auth, secret: SECRET, method: 'GET', rawPath: '/test.txt', query: [], headers, nowMs: NOW });
    headers.set('range', 'bytes=0-99');
    assert.throws(() => verifyRequestSignature({ auth, secret: SECRET, method: 'GET', rawPath: '/test.txt', query: [], headers, nowMs: NOW }),
      (e: S3Error) => e.code === 'SignatureDoesNotMatch');
  });

  it('verifies the presigned-URL example and its expiry', () => {
    const raw = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
    const headers = headerMap({ Host: 'examplebucket.s3.amazonaws.com' });
    const query = parseRawQuery(raw);
    const auth = parseAuth(headers, query)!;
    verifyRequestSignature({ auth, secret: SECRET, method: 'GET', rawPath: '/test.txt', query, headers, nowMs: NOW + 3600_000 });
    assert.throws(() => verifyRequestSignature({ auth, secret: SECRET, method: 'GET', rawPath: '/test.txt', query, headers, nowMs: NOW + 86401_000 }),
      (e: S3Error) => e.code === 'AccessDenied' && /expired/.test(e.message));
  });

  describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD (signed aws-chunked)', () => {
    const headers = headerMap({
      Host: 's3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      Authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'Content-Encoding': 'aws-chunked', 'x-amz-decoded-content-length': '66560', 'Content-Length': '66824',
    });
    const sigs = ['ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648', '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
      'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'];
    const body = (chunkSigs: string[], secondChunk = Buffer.alloc(1024, 'a')): Buffer => Buffer.concat([
      Buffer.from(`10000;chunk-signature=${chunkSigs[0]}\r\n`), Buffer.alloc(65536, 'a'), Buffer.from('\r\n'),
      Buffer.from(`400;chunk-signature=${chunkSigs[1]}\r\n`), secondChunk, Buffer.from('\r\n'),
      Buffer.from(`0;chunk-signature=${chunkSigs[2]}\r\n\r\n`),
    ]);
    const signing = () => verifyRequestSignature({ auth: parseAuth(headers, [])!, secret: SECRET, method: 'PUT', rawPath: '/examplebucket/chunkObject.txt', query: [], headers, nowMs: NOW });

    it('decodes the documented body, checking every chunk signature', async () => {
      const b = body(sigs);
      assert.equal(b.length, 66824);
      const decoded = await collect(new AwsChunkedDecoder(signing()), b);
      assert.ok(decoded.equals(Buffer.alloc(66560, 'a')));
    });

    it('refuses a tampered chunk and a swapped signature', async () => {
      const tampered = Buffer.alloc(1024, 'a');
      tampered[10] = 0x62;
      await assert.rejects(collect(new AwsChunkedDecoder(signing()), body(sigs, tampered)), (e: S3Error) => e.code === 'SignatureDoesNotMatch');
      await assert.rejects(collect(new AwsChunkedDecoder(signing()), body([sigs[1]!, sigs[0]!, sigs[2]!])), (e: S3Error) => e.code === 'SignatureDoesNotMatch');
    });

    it('refuses a body cut off before the last chunk', async () => {
      const b = body(sigs);
      await assert.rejects(collect(new AwsChunkedDecoder(signing()), b.subarray(0, 66000)), (e: S3Error) => e.code === 'IncompleteBody');
    });
  });

  describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (signed chunks and a signed trailer)', () => {
    const ctx = { signingKey: deriveSigningKey(SECRET, '20130524', 'us-east-1', 's3'), amzDate: '20130524T000000Z', scope: '20130524/us-east-1/s3/aws4_request', seedSignature: 'a'.repeat(64) };
    const data = Buffer.alloc(1000, 'z');
    function encode(trailerValue: string, signTrailerWith = trailerValue): Buffer {
      const s1 = chunkSignature(ctx, ctx.seedSignature, createHash('sha256').update(data).digest('hex'));
      const s0 = chunkSignature(ctx, s1, createHash('sha256').update('').digest('hex'));
      const ts = trailerSignature(ctx, s0, `x-amz-checksum-sha256:${signTrailerWith}\n`);
      return Buffer.concat([Buffer.from(`3e8;chunk-signature=${s1}\r\n`), data, Buffer.from(`\r\n0;chunk-signature=${s0}\r\n`),
        Buffer.from(`x-amz-checksum-sha256:${trailerValue}\r\nx-amz-trailer-signature:${ts}\r\n\r\n`)]);
    }
    const sha = createHash('sha256').update(data).digest('base64');

    it('accepts a body whose trailer signature matches', async () => {
      const d = new AwsChunkedDecoder(ctx, true);
      assert.ok((await collect(d, encode(sha))).equals(data));
      assert.equal(d.trailers.get('x-amz-checksum-sha256'), sha);
    });

    it('refuses a trailer changed after signing', async () => {
      const forged = createHash('sha256').update('other').digest('base64');
      await assert.rejects(collect(new AwsChunkedDecoder(ctx, true), encode(forged, sha)), (e: S3Error) => e.code === 'SignatureDoesNotMatch');
    });
  });

  describe('STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer', () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(2000));
    const crc = (b: Buffer): string => {
      const v = (zlib as unknown as { crc32(b: Buffer): number }).crc32(b);
      const out = Buffer.alloc(4);
      out.writeUInt32BE(v >>> 0);
      return out.toString('base64');
    };
    const encode = (checksum: string): Buffer => Buffer.concat([
      Buffer.from(`${(50000).toString(16)}\r\n`), data.subarray(0, 50000), Buffer.from('\r\n'),
      Buffer.from(`${(data.length - 50000).toString(16)}\r\n`), data.subarray(50000), Buffer.from('\r\n'),
      Buffer.from(`0\r\nx-amz-checksum-crc32:${checksum}\r\n\r\n`),
    ]);
    const headers = headerMap({ 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-decoded-content-length': String(data.length) });
    const auth = { payload: { kind: 'streaming-unsigned-trailer' } } as Parameters<typeof decodeBody>[1];

    async function run(body: Buffer) {
      const decoded = decodeBody(headers, auth, null);
      const out: Buffer[] = [];
      await pipeline([Readable.from([body]), ...decoded.stages, new Writable({ write(c, _e, cb) { out.push(c); cb(); } })]);
      return { facts: await decoded.verify(), data: Buffer.concat(out) };
    }

    it('accepts a body whose trailer checksum matches', async () => {
      const r = await run(encode(crc(data)));
      assert.ok(r.data.equals(data));
      assert.equal(r.facts.checksums['x-amz-checksum-crc32'], crc(data));
    });

    it('refuses a body whose trailer checksum does not match', async () => {
      await assert.rejects(run(encode(crc(Buffer.from('other')))), (e: S3Error) => e.code === 'BadDigest');
    });
  });
});
