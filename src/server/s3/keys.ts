import path from 'node:path';
import { S3Error } from './errors';

/**
 * Bucket and key checks that keep every object inside the storage folder. A key is decoded once from
 * the request path (so `%2e%2e` is `..`) and must then be a plain relative path: no `.`/`..`/empty
 * segments, no leading `/`, no backslashes or NULs. The resolved path is checked to be inside the
 * bucket folder as a second line of defence.
 */

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function validateBucketName(bucket: string): void {
  if (!BUCKET_RE.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', 400, { BucketName: bucket });
  }
}

export const isValidBucketName = (b: string): boolean => {
  try {
    validateBucketName(b);
    return true;
  } catch {
    return false;
  }
};

const invalidKey = (why: string): S3Error => new S3Error('InvalidArgument', `Invalid object key: ${why}`, 400);

export function validateKey(key: string): void {
  if (key.length === 0) throw invalidKey('empty');
  if (Buffer.byteLength(key) > 1024) throw new S3Error('KeyTooLongError', 'Your key is too long', 400);
  if (key.includes('\0')) throw invalidKey('contains NUL');
  if (key.includes('\\')) throw invalidKey('contains a backslash');
  if (key.startsWith('/')) throw invalidKey('absolute');
  if (key.endsWith('/')) throw invalidKey('folder markers (keys ending in /) are not stored');
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') throw invalidKey('empty, "." or ".." path segment');
    if (Buffer.byteLength(seg) > 255) throw invalidKey('a path segment is longer than 255 bytes');
  }
}

/** File that holds `bucket/key` under `root`; throws when it would not be strictly inside the bucket folder. */
export function objectPath(root: string, bucket: string, key: string): string {
  validateBucketName(bucket);
  validateKey(key);
  const bucketDir = path.resolve(root, bucket);
  const file = path.resolve(bucketDir, ...key.split('/'));
  if (!file.startsWith(bucketDir + path.sep)) throw invalidKey('escapes the bucket');
  return file;
}

/** Percent-decodes one path component the way S3 does (once); malformed escapes are an error, not a literal. */
export function decodePathPart(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalidKey('malformed percent-encoding');
  }
}
