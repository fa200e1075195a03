import type { JobOutput } from './schema';

/** `a` plus the outputs of `b` it does not have yet (same kind and URI). */
export function mergeOutputs(a: readonly JobOutput[], b: readonly JobOutput[]): JobOutput[] {
  const seen = new Set(a.map((o) => `${o.kind}:${o.uri}`));
  return [...a, ...b.filter((o) => !seen.has(`${o.kind}:${o.uri}`))];
}
