import type { ProviderId } from '../jobs/schema';
import type { ProviderRegistry } from '../providers/registry';
import type { ProviderContext } from '../providers/types';

export interface CapacityOptions {
  /** A configured capacity for the target (`cloudTraining.queue.localCapacity`, `cloudTraining.ssh.hostCapacity` and its per-host overrides); undefined = ask the machine. */
  configured?(target: string): number | undefined | Promise<number | undefined>;
  /** How long a machine's answer (its GPU count) is reused. Default 5 min. */
  cacheMs?: number;
  context?: Partial<ProviderContext> & { dataHome: string };
  log?: (line: string) => void;
}

/**
 * A target's capacity: the configured number, else the machine's GPU count (the provider's
 * `capacity`: nvidia-smi here or through the GPU check on an SSH host), else 1.
 */
export function capacityResolver(providers: ProviderRegistry, opts: CapacityOptions = {}) {
  const cache = new Map<string, { n: number; at: number }>();
  return async (target: string, provider: ProviderId, hardware: string | undefined): Promise<number> => {
    const set = await opts.configured?.(target);
    if (set !== undefined && Number.isInteger(set) && set > 0) return set;
    const hit = cache.get(target);
    if (hit && Date.now() - hit.at < (opts.cacheMs ?? 300_000)) return hit.n;
    const p = providers.has(provider) ? providers.get(provider) : undefined;
    let n = 1;
    try {
      const found = await p?.capacity?.(hardware, { dataHome: '', ...opts.context });
      if (found !== undefined && found > 0) n = found;
    } catch (e) {
      opts.log?.(`Capacity of ${target}: ${(e as Error).message}; using 1`);
    }
    cache.set(target, { n, at: Date.now() });
    return n;
  };
}

/** `nvidia-smi --query-gpu=index --format=csv,noheader` output → number of GPUs (0 when none listed). */
export function countGpuLines(stdout: string): number {
  return stdout.split('\n').filter((l) => /^\s*\d+\s*$/.test(l)).length;
}

export const GPU_COUNT_COMMAND = 'nvidia-smi --query-gpu=index --format=csv,noheader';

/** The capacity settings (`cloudTraining.local.capacity`, `cloudTraining.ssh.hostCapacity`, `cloudTraining.ssh.hostCapacities`); 0/absent = the GPU count. */
export interface CapacitySettings {
  local?: { capacity?: number };
  ssh?: { hostCapacity?: number; hostCapacities?: Record<string, number> };
}

export function configuredCapacity(s: CapacitySettings, target: string): number | undefined {
  const positive = (n: number | undefined) => (n !== undefined && Number.isInteger(n) && n > 0 ? n : undefined);
  if (target === 'local') return positive(s.local?.capacity);
  if (target.startsWith('ssh:')) return positive(s.ssh?.hostCapacities?.[target.slice(4)]) ?? positive(s.ssh?.hostCapacity);
  return undefined;
}
