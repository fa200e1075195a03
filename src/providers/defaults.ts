import { envSecretLookup } from '../core/destinations/job-delivery';
import type { SecretLookup } from '../core/destinations/schema';
import type { DataLayout } from '../core/paths';
import { ProviderRegistry } from '../core/providers/registry';
import type { SlurmCluster } from './slurm/resources';
import { hostSourcesFromEnv, type HostSources } from './ssh/hosts';

// Each provider's code is evaluated when the provider is first used, not when the extension
// activates (about 20 ms of schemas and clients): required inside the factories below.
/* eslint-disable @typescript-eslint/no-require-imports */
const local = () => require('./local/provider') as typeof import('./local/provider');
const replicate = () => require('./replicate/cli-options') as typeof import('./replicate/cli-options');
const ssh = () => require('./ssh/provider') as typeof import('./ssh/provider');
const slurm = () => require('./slurm/factory') as typeof import('./slurm/factory');
const leaseHosts = () => require('./ssh/lease-hosts') as typeof import('./ssh/lease-hosts');
const together = () => require('./together/provider') as typeof import('./together/provider');
const fireworks = () => require('./fireworks/provider') as typeof import('./fireworks/provider');
/* eslint-enable @typescript-eslint/no-require-imports */

export interface DefaultRegistryOptions {
  layout: DataLayout;
  env?: NodeJS.ProcessEnv;
  /** Default local command (setting `cloudTraining.local.command` / env `CLOUD_TRAINING_LOCAL_COMMAND`). */
  localCommand?: () => string | undefined;
  /** `cloudTraining.slurm.clusters` (the extension reads VS Code settings); default: `<dataHome>/settings.json`. */
  slurmClusters?: () => SlurmCluster[];
  /** SSH host resolution (settings hosts, ssh config file); default: ~/.ssh/config only. */
  sshHostSources?: () => HostSources;
  /**
   * Secrets of results destinations (HF token, S3 secret keys): SecretStorage in the extension;
   * default the environment (HF_TOKEN, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), as the CLI wants.
   */
  secrets?: SecretLookup;
}

/** Every provider we ship, registered lazily (nothing heavy loads until a provider is used). */
export function createDefaultRegistry(opts: DefaultRegistryOptions): ProviderRegistry {
  const env = opts.env ?? process.env;
  const registry = new ProviderRegistry();
  const secrets = opts.secrets ?? envSecretLookup(env);
  registry.register('local', () => new (local().LocalProvider)({
    jobsDir: opts.layout.jobsDir,
    defaultCommand: () => opts.localCommand?.() ?? env.CLOUD_TRAINING_LOCAL_COMMAND,
    secrets, env,
  }));
  // Token/base URL from REPLICATE_API_TOKEN / REPLICATE_BASE_URL; the extension re-registers it with SecretStorage.
  registry.register('replicate', () => replicate().replicateProviderFromEnv(env, { secrets, env }));
  // Login nodes are SSH hosts: the same sources (the CLI's come from CLOUD_TRAINING_SSH_* and ~/.ssh).
  const sshHostSources = opts.sshHostSources ?? (() => hostSourcesFromEnv(env));
  // Rented machines (leases) are SSH hosts too: `lease-<id>` (ssh/lease-hosts.ts).
  registry.register('ssh', () => new (ssh().SshProvider)({ cacheDir: opts.layout.cacheDir, hostSources: () => leaseHosts().withLeaseHosts(sshHostSources(), opts.layout.home), secrets, env }));
  registry.register('slurm', () => slurm().createSlurmProvider({
    clusters: opts.slurmClusters ?? (() => slurm().loadSlurmClustersForCli(opts.layout.home)),
    hostSources: sshHostSources,
    cacheDir: opts.layout.cacheDir,
    secrets, env,
  }));
  // Managed fine-tuning: keys from TOGETHER_API_KEY / FIREWORKS_API_KEY (+ FIREWORKS_ACCOUNT_ID); the editor
  // re-registers them with SecretStorage, as it does Replicate.
  registry.register('together', () => together().togetherProviderFromEnv(env));
  registry.register('fireworks', () => fireworks().fireworksProviderFromEnv(env));
  return registry;
}
