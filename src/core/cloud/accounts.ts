import type { CloudDriver, CloudProviderId } from './driver';
import { DigitalOceanClient, DigitalOceanDriver } from './digitalocean';
import { LambdaClient, LambdaDriver } from './lambda';
import { RunPodClient, RunPodDriver } from './runpod';

/**
 * Drivers for the accounts whose keys are in the environment (`LAMBDA_API_KEY`,
 * `DIGITALOCEAN_TOKEN`, `RUNPOD_API_KEY`) — the CLI's source; the extension will add SecretStorage.
 * `CLOUD_TRAINING_<PROVIDER>_URL` overrides a base URL (tests, proxies).
 */
export function driversFromEnv(env: NodeJS.ProcessEnv, opts: { sleep?: (ms: number) => Promise<void> } = {}): Partial<Record<CloudProviderId, CloudDriver>> {
  const out: Partial<Record<CloudProviderId, CloudDriver>> = {};
  const sshPort = env.CLOUD_TRAINING_CLOUD_SSH_PORT ? Number(env.CLOUD_TRAINING_CLOUD_SSH_PORT) : undefined;
  if (env.LAMBDA_API_KEY) {
    out.lambda = new LambdaDriver(new LambdaClient({ apiKey: env.LAMBDA_API_KEY, baseUrl: env.CLOUD_TRAINING_LAMBDA_URL || undefined, sleep: opts.sleep }), { sshPort });
  }
  if (env.DIGITALOCEAN_TOKEN) {
    out.digitalocean = new DigitalOceanDriver(new DigitalOceanClient({ apiKey: env.DIGITALOCEAN_TOKEN, baseUrl: env.CLOUD_TRAINING_DIGITALOCEAN_URL || undefined, sleep: opts.sleep }), { sshPort });
  }
  if (env.RUNPOD_API_KEY) {
    out.runpod = new RunPodDriver(new RunPodClient({ apiKey: env.RUNPOD_API_KEY, baseUrl: env.CLOUD_TRAINING_RUNPOD_URL || undefined, graphqlUrl: env.CLOUD_TRAINING_RUNPOD_GRAPHQL_URL || undefined, sleep: opts.sleep }));
  }
  return out;
}

export const CLOUD_PROVIDERS: readonly CloudProviderId[] = ['lambda', 'digitalocean', 'runpod'];
export const CLOUD_LABELS: Record<CloudProviderId, string> = { lambda: 'Lambda Cloud', digitalocean: 'DigitalOcean', runpod: 'RunPod' };
/** The environment variable each provider's key is read from (CLI), and the extension's fallback. */
export const CLOUD_KEY_ENV: Record<CloudProviderId, string> = { lambda: 'LAMBDA_API_KEY', digitalocean: 'DIGITALOCEAN_TOKEN', runpod: 'RUNPOD_API_KEY' };

/**
 * Drivers from keys held elsewhere (the extension's SecretStorage): each key given wins over the
 * environment's; base URL overrides still come from `env`. The keys are never stored by this.
 */
export function driversFromKeys(keys: Partial<Record<CloudProviderId, string>>, env: NodeJS.ProcessEnv, opts: { sleep?: (ms: number) => Promise<void> } = {}): Partial<Record<CloudProviderId, CloudDriver>> {
  const merged: NodeJS.ProcessEnv = { ...env };
  for (const p of CLOUD_PROVIDERS) if (keys[p]) merged[CLOUD_KEY_ENV[p]] = keys[p];
  return driversFromEnv(merged, opts);
}
