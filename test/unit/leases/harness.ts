import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LeaseManager, type LeaseManagerOptions } from '../../../src/core/leases/manager';
import { LeaseStore } from '../../../src/core/leases/store';
import type { Lease } from '../../../src/core/leases/schema';
import type { SshdFixture } from '../../support/sshd';

const run = promisify(execFile);

export const API_KEY = 'sk-test-SECRET-0123456789abcdef';
export const T0 = Date.parse('2026-12-03T10:00:00Z');

/** A clock tests move by hand; `sleep` advances it (no real waiting). */
export class FakeClock {
  t = T0;
  now = () => this.t;
  advance(ms: number) { this.t += ms; }
  sleep = async (ms: number) => { this.t += ms; await new Promise((r) => setImmediate(r)); };
}

export interface Harness { manager: LeaseManager; store: LeaseStore; clock: FakeClock; alerts: string[] }

export function makeManager(dir: string, drivers: LeaseManagerOptions['drivers'], extra: Partial<LeaseManagerOptions> = {}): Harness {
  const clock = new FakeClock();
  const store = new LeaseStore(dir);
  const alerts: string[] = [];
  const manager = new LeaseManager({ store, drivers, now: clock.now, sleep: clock.sleep, alert: (_l: Lease, m: string) => alerts.push(m), ...extra });
  return { manager, store, clock, alerts };
}

/** Run `echo` on the machine with the system ssh client, verifying its host key against `knownHosts`. */
export async function sshEcho(sshd: Pick<SshdFixture, 'user'>, host: string, port: number, keyPath: string, knownHosts: string): Promise<string> {
  const { stdout } = await run('ssh', [
    '-p', String(port), '-i', keyPath, '-F', '/dev/null',
    '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', `${sshd.user}@${host}`, 'echo leased-ok',
  ], { timeout: 20_000 });
  return stdout.trim();
}
