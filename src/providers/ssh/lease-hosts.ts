import path from 'node:path';
import { DEFAULT_SSH_USER } from '../../core/cloud/driver';
import { LeaseStore } from '../../core/leases/store';
import type { Lease } from '../../core/leases/schema';
import type { HostSources, SettingsHost } from './hosts';

/**
 * Rented machines as SSH hosts: every active lease is a host named `lease-<id>` for the SSH provider
 * (its address, port, login user, our key and its OWN known_hosts file), so a job on a rented
 * machine is an ordinary SSH job and every later call (status, logs, cancel, download) finds it again
 * through leases.json after a restart.
 */
export const LEASE_HOST_PREFIX = 'lease-';
export const leaseHostName = (leaseId: string): string => `${LEASE_HOST_PREFIX}${leaseId}`;

/** Where the lease key pair and the rented machines' known_hosts live (under the data folder). */
export function leaseKeyDir(dataHome: string): string { return path.join(dataHome, 'keys', 'cloud'); }
export function leaseKnownHostsFile(dataHome: string): string { return path.join(leaseKeyDir(dataHome), 'known_hosts'); }

export function leaseSettingsHost(l: Lease, dataHome: string): SettingsHost | undefined {
  if (!l.host || l.state !== 'active') return undefined;
  return {
    name: leaseHostName(l.id), host: l.host, port: l.port ?? 22, user: l.sshUser ?? DEFAULT_SSH_USER[l.provider],
    identityFile: l.identityFile ?? path.join(leaseKeyDir(dataHome), 'id_ed25519'),
    knownHostsFile: leaseKnownHostsFile(dataHome),
  };
}

/** `base` plus one settings host per active lease (read from leases.json on every call). */
export async function withLeaseHosts(base: HostSources, dataHome: string): Promise<HostSources> {
  let leases: Lease[] = [];
  try {
    leases = await new LeaseStore(dataHome).list();
  } catch {
    return base; // an unreadable leases.json must not break ordinary SSH hosts (lease commands report it)
  }
  const extra = leases.map((l) => leaseSettingsHost(l, dataHome)).filter((h): h is SettingsHost => Boolean(h));
  if (!extra.length) return base;
  const names = new Set(extra.map((h) => h.name));
  return { ...base, settingsHosts: [...(base.settingsHosts ?? []).filter((h) => !names.has(h.name)), ...extra] };
}
