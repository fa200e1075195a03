import { createHash, Hash } from 'node:crypto';
import zlib from 'node:zlib';

/**
 * The flexible checksums S3 clients attach (`x-amz-checksum-<alg>` as a header or as a trailer of an
 * aws-chunked body), computed incrementally while the body streams to disk. Recent @aws-sdk/client-s3
 * sends CRC32 by default.
 */
export interface RunningChecksum { update(chunk: Buffer): void; digestBase64(): string }

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

const u32be = (n: number): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('base64');
};

function crc32(): RunningChecksum {
  // zlib.crc32 exists from Node 20.15; typed in newer @types/node only.
  const native = (zlib as unknown as { crc32?: (d: Buffer, v?: number) => number }).crc32;
  if (!native) throw new Error('zlib.crc32 needs Node >= 20.15');
  let v = 0;
  return { update: (c) => { v = native(c, v); }, digestBase64: () => u32be(v) };
}

function crc32c(): RunningChecksum {
  let v = 0xffffffff;
  return {
    update(c) {
      let x = v;
      for (let i = 0; i < c.length; i++) x = CRC32C_TABLE[(x ^ c[i]!) & 0xff]! ^ (x >>> 8);
      v = x;
    },
    digestBase64: () => u32be(~v),
  };
}

function hashed(alg: string): RunningChecksum {
  const h: Hash = createHash(alg);
  return { update: (c) => { h.update(c); }, digestBase64: () => h.digest('base64') };
}

/** `crc32` | `crc32c` | `sha1` | `sha256`; undefined for algorithms we cannot verify (e.g. crc64nvme). */
export function createChecksum(algorithm: string): RunningChecksum | undefined {
  switch (algorithm.toLowerCase()) {
    case 'crc32': return crc32();
    case 'crc32c': return crc32c();
    case 'sha1': return hashed('sha1');
    case 'sha256': return hashed('sha256');
    default: return undefined;
  }
}

/** `x-amz-checksum-crc32` → `crc32`; undefined for other headers. */
export function checksumAlgorithmOfHeader(name: string): string | undefined {
  const m = /^x-amz-checksum-([a-z0-9]+)$/.exec(name.toLowerCase());
  return m && m[1] !== 'type' && m[1] !== 'algorithm' ? m[1] : undefined;
}
