import path from 'node:path';

/** Formats that are already compressed: deflating them again costs CPU and saves nothing. */
const STORED = new Set([
  'jpg', 'jpeg', 'png', 'webp', 'gif', 'avif', 'heic', 'heif', 'jxl', 'jp2',
  'mp4', 'mov', 'mkv', 'webm', 'avi', 'm4v',
  'mp3', 'm4a', 'aac', 'ogg', 'opus', 'flac',
  'safetensors', 'pt', 'pth', 'ckpt', 'bin', 'npz', 'parquet', 'arrow',
  'zip', 'gz', 'tgz', 'bz2', 'xz', 'zst', '7z', 'rar', 'tar',
]);

/**
 * Below this size deflate saves a few bytes at best, while each deflated entry costs a zlib stream
 * (~300 KB of native state): captions are typically 50-300 bytes, and thousands of them made zlib
 * set-up and its garbage the largest cost after reading. So small files are stored too.
 */
export const DEFLATE_MIN_BYTES = 1024;

export function shouldStore(relPath: string, size = Infinity): boolean {
  return size < DEFLATE_MIN_BYTES || STORED.has(path.extname(relPath).slice(1).toLowerCase());
}
