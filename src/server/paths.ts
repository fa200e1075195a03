/** The local server's routes; a small module of its own so the CLI and extension can use them without loading the server. */

export const STORAGE_PATH = '/api/cloud/storage';
export const WEBHOOK_PATH = '/api/cloud/webhooks';
/** First path segment of the server's own routes (`/api/cloud/…`); with the S3 API at the root it cannot also be a bucket. */
export const API_BUCKET = 'api';
/** The prefix of the server's own routes (webhooks, health). */
export const SERVER_ROUTES = '/api/cloud';

/** `/` → '' (the root), `/x/y/` → `/x/y`; anything but a plain absolute path is refused. */
export function normaliseStoragePath(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed !== '' && !/^(\/[A-Za-z0-9._~-]+)+$/.test(trimmed)) throw new Error(`storage path must be / or an absolute path like /api/cloud/storage, not ${p}`);
  if (trimmed === '/api' || trimmed === '/api/cloud' || trimmed.startsWith('/api/cloud/webhooks')) throw new Error(`storage path ${p} would hide the webhook routes`);
  return trimmed;
}

