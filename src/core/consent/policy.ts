import * as z from 'zod';
import type { ConsentRecord } from '../jobs/schema';
import type { ConsentMemory } from './memory';
import type { ConsentSummary } from './summary';

/** Setting `cloudTraining.uploadConsent`. */
export const ConsentPolicySchema = z.enum(['ask', 'allow', 'never']);
export type ConsentPolicy = z.infer<typeof ConsentPolicySchema>;

/** What the person answered: upload this once, always for this workspace, or not at all. */
export const ConsentAnswerSchema = z.enum(['once', 'always', 'cancel']);
export type ConsentAnswer = z.infer<typeof ConsentAnswerSchema>;

/** Policy `never`: cloud submission is off. Not a cancellation: the message says how to turn it on. */
export class ConsentRefusedError extends Error {
  readonly code = 'CONSENT_REFUSED';
  constructor(provider: string) {
    super(`Uploading data to ${provider} is turned off (setting cloudTraining.uploadConsent is "never"). Local jobs still work; set it to "ask" to submit to ${provider}.`);
    this.name = 'ConsentRefusedError';
  }
}

/** The person said no. */
export class ConsentDeclinedError extends Error {
  readonly code = 'CONSENT_DECLINED';
  constructor(provider: string) {
    super(`Upload to ${provider} was not allowed; nothing was sent.`);
    this.name = 'ConsentDeclinedError';
  }
}

export interface ConsentInput {
  policy: ConsentPolicy;
  /** False for providers that keep data on this machine (local): no consent needed. */
  uploadsData: boolean;
  summary: ConsentSummary;
  workspace?: string;
  memory: ConsentMemory;
  /** Shows the summary and returns the answer (webview in the editor, terminal prompt in the CLI). */
  ask(summary: ConsentSummary, signal?: AbortSignal): Promise<ConsentAnswer>;
  signal?: AbortSignal;
  now?: () => Date;
}

/**
 * The one place upload consent is decided, used by every way a submission starts (extension and CLI),
 * so `never` cannot be bypassed from a terminal. Returns the record stored on the job.
 */
export async function decideConsent(input: ConsentInput): Promise<ConsentRecord> {
  const now = input.now ?? (() => new Date());
  const s = input.summary;
  const record = (decision: ConsentRecord['decision']): ConsentRecord => ({
    decision,
    at: now().toISOString(),
    destination: input.uploadsData ? s.destination : undefined,
    datasets: s.datasets.map((d) => ({ id: d.id, files: d.files, bytes: d.bytes })),
    excludedCount: s.excluded.length,
  });
  if (!input.uploadsData) return record('not-required');
  if (input.policy === 'never') throw new ConsentRefusedError(s.providerName);
  if (input.policy === 'allow') return record('setting-allow');
  if (await input.memory.isAlwaysAllowed(s.provider, input.workspace)) return record('always-workspace');
  input.signal?.throwIfAborted();
  const answer = ConsentAnswerSchema.parse(await input.ask(s, input.signal));
  input.signal?.throwIfAborted();
  if (answer === 'cancel') throw new ConsentDeclinedError(s.providerName);
  if (answer === 'always') {
    if (input.workspace) await input.memory.allowAlways(s.provider, input.workspace, now());
    return record('always-workspace');
  }
  return record('once');
}
