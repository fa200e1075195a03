import type { DataLayout } from '../core/paths';
import { LocalProvider } from './local/provider';
import { ProviderRegistry } from './registry';

export interface DefaultRegistryOptions {
  layout: DataLayout;
  env?: NodeJS.ProcessEnv;
  /** Default local command (setting `cloudTraining.local.command` / env `CLOUD_TRAINING_LOCAL_COMMAND`). */
  localCommand?: () => string | undefined;
}

/** Every provider we ship, registered lazily (nothing heavy loads until a provider is used). */
export function createDefaultRegistry(opts: DefaultRegistryOptions): ProviderRegistry {
  const env = opts.env ?? process.env;
  const registry = new ProviderRegistry();
  registry.register('local', () => new LocalProvider({
    jobsDir: opts.layout.jobsDir,
    defaultCommand: () => opts.localCommand?.() ?? env.CLOUD_TRAINING_LOCAL_COMMAND,
  }));
  return registry;
}
