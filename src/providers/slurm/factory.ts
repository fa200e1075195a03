import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import type { SecretLookup } from '../../core/destinations/schema';
import { cloudTrainingSection } from '../../core/submit/settings';
import type { HostSources } from '../ssh/hosts';
import { SlurmClustersProvider } from './clusters-provider';
import { slurmClustersFromSection, type SlurmCluster } from './resources';
import { connectCluster, sshDownloadHook, sshStageHook } from './ssh';

export interface SlurmFactoryOptions {
  /** Current `cloudTraining.slurm.clusters` (validated with SlurmClustersSettingSchema). */
  clusters: () => SlurmCluster[];
  /** ~/.ssh/config and `cloudTraining.ssh.hosts`, as the SSH provider resolves them. */
  hostSources?: () => HostSources;
  /** DataLayout.cacheDir: the sync's hash cache, shared with the SSH provider. */
  cacheDir: string;
  /** Secrets of results destinations (SecretStorage / the environment) and the environment they fall back to. */
  secrets?: SecretLookup;
  env?: NodeJS.ProcessEnv;
}

/**
 * The `slurm` provider for the registry: login nodes reached over SSH (same host resolution, known_hosts
 * checks and keys as the SSH provider), data synced with the SSH provider's sync. No connection is
 * opened until a Slurm job is submitted or polled.
 */
export function createSlurmProvider(opts: SlurmFactoryOptions): SlurmClustersProvider {
  return new SlurmClustersProvider(opts.clusters, (cluster) => ({
    cluster,
    connect: (ctx) => connectCluster(cluster, opts.hostSources?.() ?? {}, ctx),
    stage: sshStageHook(opts.cacheDir),
    download: sshDownloadHook,
    secrets: opts.secrets,
    env: opts.env,
  }));
}

/**
 * For the CLI: `cloudTraining.slurm.clusters` from `<dataHome>/settings.json` (which the extension keeps
 * in sync with the user settings). Never from a workspace's settings: a cloned repository must not be
 * able to point our SSH connections and dataset uploads at its own host (the setting is machine-scoped).
 * Synchronous and small, so it can back the provider's `clusters` getter directly.
 */
export function loadSlurmClustersForCli(dataHome: string, warn: (m: string) => void = () => {}): SlurmCluster[] {
  const file = path.join(dataHome, 'settings.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const parsed: unknown = parseJsonc(text, [], { allowTrailingComma: true });
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) { warn(`${file} should hold a JSON object`); return []; }
  return slurmClustersFromSection(cloudTrainingSection(parsed as Record<string, unknown>), warn);
}
