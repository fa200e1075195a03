import { JobHistory } from '../core/jobs/history';
import { JobMonitor } from '../core/jobs/monitor';
import { DataLayout, dataLayout } from '../core/paths';
import { createDefaultRegistry } from '../providers/defaults';
import type { ProviderRegistry } from '../core/providers/registry';
import { envSecretLookup } from '../core/destinations/job-delivery';
import type { SecretLookup } from '../core/destinations/schema';
import { loadCliSettings, userPricing } from '../core/submit/settings';
import type { CliScope, ScopedIO } from './scope';
import { JobQueue } from '../core/queue/queue';
import { capacityResolver, configuredCapacity } from '../core/queue/capacity';
import type { ProviderId } from '../core/jobs/schema';

export interface CliContext {
  layout: DataLayout;
  history: JobHistory;
  providers: ProviderRegistry;
  /** A job monitor that is disposed with the invocation (disposing it earlier is fine); it runs the queue too. */
  monitor(intervalMs?: number): JobMonitor;
  /** This machine's queue (local and SSH targets): any CLI process may start a waiting job whose slot freed. */
  queue: JobQueue;
  /** Capacity of a target, for the submit pipeline's queue decision. */
  capacity(target: string, provider: ProviderId, hardware: string | undefined): Promise<number>;
}

/** One context per invocation: `submit --follow` reuses the submission's registry and its connections. */
const contexts = new WeakMap<CliScope, CliContext>();

/**
 * The same core objects the extension builds, for one CLI invocation. Owned by the invocation's
 * scope: its provider registry (SSH connections, jump hosts, Slurm login nodes) and every monitor it
 * hands out are closed when the command ends, so the process can exit.
 */
export function cliContext(io: ScopedIO, opts: { secrets?: SecretLookup } = {}): CliContext {
  const known = contexts.get(io.scope);
  if (known) return known;
  const layout = dataLayout(io.dataHome);
  const history = new JobHistory(layout.historyDir, (w) => io.stderr.write(`warning: ${w.message}\n`));
  // Extra secrets of this invocation (e.g. the S3 data route's keys, from named env vars) before the usual env ones.
  const fromEnv = envSecretLookup(io.env);
  const extra = opts.secrets;
  const providers = createDefaultRegistry({ layout, env: io.env, secrets: extra ? async (n) => (await extra(n)) ?? fromEnv(n) : undefined });
  // Registered first, so closed last: monitors stop before the connections they poll through.
  io.scope.defer(() => providers.dispose());
  const settings = async () => (await loadCliSettings({ dataHome: layout.home, env: io.env })).settings;
  const log = (l: string) => io.stderr.write(`${l}\n`);
  const capacity = capacityResolver(providers, { configured: async (t) => configuredCapacity(await settings(), t), context: { dataHome: layout.home }, log });
  const queue = new JobQueue(history, providers, { dataHome: layout.home, capacity, log, signal: io.scope.signal });
  const ctx: CliContext = {
    layout,
    history,
    providers,
    queue,
    capacity,
    monitor: (intervalMs = 1000) => io.scope.use(new JobMonitor(history, providers, {
      queue,
      dataHome: layout.home, intervalMs, log: (l) => io.stderr.write(`${l}\n`),
      // The same prices the extension uses (mirrored into <dataHome>/settings.json).
      pricing: async () => userPricing((await loadCliSettings({ dataHome: layout.home, env: io.env })).settings),
    })),
  };
  contexts.set(io.scope, ctx);
  return ctx;
}
