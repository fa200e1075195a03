import { randomBytes } from 'node:crypto';

/** Sortable, unique job ids: base36 time + random, e.g. "mi3k2x7q-a1b2c3". */
export function newJobId(now = Date.now()): string {
  return `${now.toString(36)}-${randomBytes(3).toString('hex')}`;
}
