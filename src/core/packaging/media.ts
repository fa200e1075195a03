import path from 'node:path';

/** Formats that are already compressed: deflating them again costs CPU and saves nothing. */
const STORED = new Set([
  'jpg', 'jpeg', 'png', 'webp', 'gif', 'avif', 'heic', 'heif', 'jxl', 'jp2',
  'mp4', 'mov', 'mkv', 'webm', 'avi', 'm4v',
  'mp3', 'm4a', 'aac', 'ogg', 'opus', 'flac',
  'safetensors', 'pt', 'pth', 'ckpt', 'bin', 'npz', 'parquet', 'arrow',
  'zip', 'gz', 'tgz', 'bz2', 'xz', 'zst', '7z', 'rar', 'tar',
]);

export function shouldStore(relPath: string): boolean {
  return STORED.has(path.extname(relPath).slice(1).toLowerCase());
}
