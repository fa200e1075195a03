/**
 * What the lease core needs from a GPU cloud, whatever its API looks like. Each provider's client
 * file adapts its own API to this (lambda.ts, digitalocean.ts, runpod.ts).
 */
export type CloudProviderId = 'lambda' | 'digitalocean' | 'runpod';

export const CLOUD_TAG = 'cloud-training';

/** The name every instance of lease `leaseId` gets; it is also how we find it again after a crash. */
export function instanceName(leaseId: string): string {
  return `${CLOUD_TAG}-${leaseId}`;
}

/** A provider's view of one instance, normalised. `gone` = terminated / deleted / 404. */
export interface CloudInstance {
  id: string;
  name: string;
  state: 'pending' | 'active' | 'stopped' | 'stopping' | 'gone';
  /** The provider's own status word (for messages). */
  providerState: string;
  host?: string;
  port?: number;
  pricePerHour?: number;
  gpu?: string;
  region?: string;
}

export interface LaunchSpec {
  leaseId: string;
  /** instanceName(leaseId) */
  name: string;
  gpu: string;
  region?: string;
  /** The account's id/name of our registered key (Lambda: name, DO: id/fingerprint). */
  sshKeyRef?: string;
  /** OpenSSH public key line (RunPod injects it as PUBLIC_KEY). */
  publicKey: string;
  /** cloud-init user data (DigitalOcean: the host key we generated). */
  userData?: string;
  image?: string;
}

export interface GpuOffer { id: string; label: string; pricePerHour?: number; regions: string[] }

export interface CloudDriver {
  readonly provider: CloudProviderId;
  /** A cheap read that proves the key works; returns an account label (email, etc.). */
  whoami(signal?: AbortSignal): Promise<string>;
  listGpus(signal?: AbortSignal): Promise<GpuOffer[]>;
  /** Register `publicKey` with the account unless already there; returns the reference launch needs. */
  ensureSshKey(publicKey: string, name: string): Promise<string | undefined>;
  /** ONE create call, never retried: returns the instance id. */
  launch(spec: LaunchSpec): Promise<string>;
  /** undefined when the provider no longer knows the instance. */
  get(id: string): Promise<CloudInstance | undefined>;
  /** Every instance we tagged/named (`cloud-training-…`). */
  listOurs(): Promise<CloudInstance[]>;
  /** Ask for deletion. Already gone is not an error. */
  destroy(id: string): Promise<void>;
}

/** The login user of each provider's stock images (Lambda Stack: ubuntu; DO and RunPod: root). */
export const DEFAULT_SSH_USER: Record<CloudProviderId, string> = { lambda: 'ubuntu', digitalocean: 'root', runpod: 'root' };
