import type { DataLayout } from '../core/paths';
import { LocalProvider } from './local/provider';
import { replicateProviderFromEnv } from './replicate/cli-options';
import { ProviderRegistry } from './registry';
import { createSlurmProvider, loadSlurmClustersForCli } from './slurm/factory';
import type { SlurmCluster } from './slurm/resources';
import { hostSourcesFromEnv, type HostSources } from './ssh/hosts';
import { SshProvider } from './ssh/provider';

export interface DefaultRegistryOptions {
  layout: DataLayout;
  env?: NodeJS.ProcessEnv;
  /** Default local command (setting `cloudTraining.local.command` / env `CLOUD_TRAINING_LOCAL_COMMAND`). */
  localCommand?: () => string | undefined;
  /** `cloudTraining.slurm.clusters` (the extension reads VS Code settings); default: `<dataHome>/settings.json`. */
  slurmClusters?: () => SlurmCluster[];
  /** SSH host resolution (settings hosts, ssh config file); default: ~/.ssh/config only. */
  sshHostSources?: () => HostSources;
}

/** Every provider we ship, registered lazily (nothing heavy loads until a provider is used). */
export function createDefaultRegistry(opts: DefaultRegistryOptions): ProviderRegistry {
  const env = opts.env ?? process.env;
  const registry = new ProviderRegistry();
  registry.register('local', () => new LocalProvider({
    jobsDir: opts.layout.jobsDir,
    defaultCommand: () => opts.localCommand?.() ?? env.CLOUD_TRAINING_LOCAL_COMMAND,
  }));
  // Token/base URL from REPLICATE_API_TOKEN / REPLICATE_BASE_URL; the extension re-registers it with SecretStorage.
  registry.register('replicate', () => replicateProviderFromEnv(env));
  registry.register('ssh', () => new SshProvider({ cacheDir: opts.layout.cacheDir, hostSources: opts.sshHostSources ?? (() => hostSourcesFromEnv(env)) }));
  registry.register('slurm', () => createSlurmProvider({
    clusters: opts.slurmClusters ?? (() => loadSlurmClustersForCli(opts.layout.home)),
    hostSources: opts.sshHostSources,
    cacheDir: opts.layout.cacheDir,
  }));
  return registry;
}
