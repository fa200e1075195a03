import { z } from 'zod';

/**
 * A lease: one rented GPU machine, from the intent to rent it until the provider confirms it gone.
 * See docs/leases.md for the state machine.
 */
export const LEASES_VERSION = 1;

export const LeaseState = z.enum(['intent', 'launching', 'active', 'draining', 'destroying', 'gone', 'failed']);
export type LeaseState = z.infer<typeof LeaseState>;

export const TeardownPolicy = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('destroy') }),
  z.object({ kind: z.literal('idle'), minutes: z.number().positive() }),
  z.object({ kind: z.literal('keep') }),
]);
export type TeardownPolicy = z.infer<typeof TeardownPolicy>;

const Owner = z.object({ pid: z.number(), host: z.string() });

export const LeaseSchema = z.object({
  id: z.string().min(1),
  provider: z.enum(['lambda', 'digitalocean', 'runpod']),
  /** A label for the account (never the key). */
  account: z.string(),
  /** The instance name/tag chosen before launch: how a crash-orphaned instance is found again. */
  name: z.string(),
  gpu: z.string(),
  region: z.string().optional(),
  policy: TeardownPolicy,
  state: LeaseState,
  jobIds: z.array(z.string()).default([]),
  instanceId: z.string().optional(),
  host: z.string().optional(),
  port: z.number().optional(),
  pricePerHour: z.number().optional(),
  /** The process that sent the launch call (to tell "in flight" from "crashed"). */
  launchOwner: Owner.optional(),
  createdAt: z.string(),
  launchStartedAt: z.string().optional(),
  activeAt: z.string().optional(),
  /** Set when the last job ended under the idle policy. */
  idleSince: z.string().optional(),
  drainReason: z.string().optional(),
  destroyAttempts: z.number().default(0),
  nextDestroyAt: z.string().optional(),
  destroyRequestedAt: z.string().optional(),
  goneAt: z.string().optional(),
  /** Launch → gone at the hourly price. */
  cost: z.object({ actual: z.number(), seconds: z.number(), pricePerHour: z.number().optional() }).optional(),
  lastError: z.string().optional(),
  /** Known-hosts entries we wrote for this machine (DigitalOcean's injected host key). */
  hostKeyPublic: z.string().optional(),
  /** How the SSH provider reaches it (set by launch-job.ts): login user and our private key's path. */
  sshUser: z.string().optional(),
  identityFile: z.string().optional(),
});
export type Lease = z.infer<typeof LeaseSchema>;

export const LeasesFileSchema = z.object({ version: z.number(), leases: z.array(z.unknown()) });

export const LIVE_STATES: readonly LeaseState[] = ['intent', 'launching', 'active', 'draining', 'destroying'];
export const isLive = (l: Lease) => LIVE_STATES.includes(l.state);
