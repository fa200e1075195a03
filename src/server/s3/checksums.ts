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

/**
 * CRC64/NVME (S3's `x-amz-checksum-crc64nvme`): reflected, polynomial 0xad93d23594c93659 (reversed:
 * 0x9a6c9329ac4bc9b5), init and xorout all ones; "123456789" → 0xae8b14860a799888. Table-driven
 * slicing-by-8 over two 32-bit halves (BigInt per byte would be far too slow for gigabytes).
 */
const CRC64_TABLES = (() => {
  const lo = new Uint32Array(8 * 256);
  const hi = new Uint32Array(8 * 256);
  const POLY_LO = 0xac4bc9b5;
  const POLY_HI = 0x9a6c9329;
  for (let i = 0; i < 256; i++) {
    let l = i;
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const odd = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h >>>= 1;
      if (odd) {
        l = (l ^ POLY_LO) >>> 0;
        h = (h ^ POLY_HI) >>> 0;
      }
    }
    lo[i] = l;
    hi[i] = h;
  }
  // Table t+1 is table t advanced by one more zero byte.
  for (let t = 1; t < 8; t++) {
    for (let i = 0; i < 256; i++) {
      const pl = lo[(t - 1) * 256 + i]!;
      const ph = hi[(t - 1) * 256 + i]!;
      const idx = pl & 0xff;
      lo[t * 256 + i] = (((pl >>> 8) | (ph << 24)) ^ lo[idx]!) >>> 0;
      hi[t * 256 + i] = ((ph >>> 8) ^ hi[idx]!) >>> 0;
    }
  }
  return { lo, hi };
})();

export function crc64nvme(): RunningChecksum {
  const { lo: TL, hi: TH } = CRC64_TABLES;
  let l = 0xffffffff;
  let h = 0xffffffff;
  return {
    update(c) {
      let i = 0;
      const n = c.length;
      const end8 = n - (n % 8);
      for (; i < end8; i += 8) {
        const a = (l ^ (c[i]! | (c[i + 1]! << 8) | (c[i + 2]! << 16) | (c[i + 3]! << 24))) >>> 0;
        const b = (h ^ (c[i + 4]! | (c[i + 5]! << 8) | (c[i + 6]! << 16) | (c[i + 7]! << 24))) >>> 0;
        const i7 = 7 * 256 + (a & 0xff), i6 = 6 * 256 + ((a >>> 8) & 0xff), i5 = 5 * 256 + ((a >>> 16) & 0xff), i4 = 4 * 256 + (a >>> 24);
        const i3 = 3 * 256 + (b & 0xff), i2 = 2 * 256 + ((b >>> 8) & 0xff), i1 = 256 + ((b >>> 16) & 0xff), i0 = b >>> 24;
        l = (TL[i7]! ^ TL[i6]! ^ TL[i5]! ^ TL[i4]! ^ TL[i3]! ^ TL[i2]! ^ TL[i1]! ^ TL[i0]!) >>> 0;
        h = (TH[i7]! ^ TH[i6]! ^ TH[i5]! ^ TH[i4]! ^ TH[i3]! ^ TH[i2]! ^ TH[i1]! ^ TH[i0]!) >>> 0;
      }
      for (; i < n; i++) {
        const idx = (l ^ c[i]!) & 0xff;
        l = (((l >>> 8) | (h << 24)) ^ TL[idx]!) >>> 0;
        h = ((h >>> 8) ^ TH[idx]!) >>> 0;
      }
    },
    digestBase64() {
      const b = Buffer.alloc(8);
      b.writeUInt32BE(~h >>> 0, 0);
      b.writeUInt32BE(~l >>> 0, 4);
      return b.toString('base64');
    },
  };
}

function hashed(alg: string): RunningChecksum {
  const h: Hash = createHash(alg);
  return { update: (c) => { h.update(c); }, digestBase64: () => h.digest('base64') };
}

/** The algorithms S3 defines for `x-amz-checksum-<alg>`; every one is verified, anything else refused. */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;

/** A running checksum for one of `CHECKSUM_ALGORITHMS`; undefined for anything else. */
export function createChecksum(algorithm: string): RunningChecksum | undefined {
  switch (algorithm.toLowerCase()) {
    case 'crc32': return crc32();
    case 'crc32c': return crc32c();
    case 'crc64nvme': return crc64nvme();
    case 'sha1': return hashed('sha1');
    case 'sha256': return hashed('sha256');
    default: return undefined;
  }
}

/** `x-amz-checksum-crc32` → `crc32`; undefined for other headers. */
export function checksumAlgorithmOfHeader(name: string): string | undefined {
  const m = /^x-amz-checksum-([a-z0-9]+)$/.exec(name.toLowerCase());
  // x-amz-checksum-type/-algorithm/-mode are settings, not checksums.
  return m && m[1] !== 'type' && m[1] !== 'algorithm' && m[1] !== 'mode' ? m[1] : undefined;
}
