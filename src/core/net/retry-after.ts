/**
 * Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3); milliseconds from `now`,
 * or undefined when absent or unreadable. One reading for every client that honours 429/503.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
