import path from 'node:path';
import * as z from 'zod';
import type { Job } from '../jobs/schema';
import { JobEventKind, JobEventKindSchema, eventTitle } from './events';

/**
 * The generic webhook body, `cloud-training.job-event/1`. Stable: fields are only ever added (as
 * optional) within version 1; a change that removes or retypes a field is version 2. It carries what
 * a pipeline needs to react (ids, status, times, cost, where the outputs are) and nothing else: no
 * credentials, no dataset contents, no local paths (file outputs are named, not located).
 */
export const JOB_EVENT_SCHEMA_ID = 'cloud-training.job-event/1' as const;

export const JobEventPayloadSchema = z.object({
  schema: z.literal(JOB_EVENT_SCHEMA_ID),
  event: JobEventKindSchema,
  /** When the event was recorded (ISO 8601). */
  at: z.string(),
  job: z.object({
    id: z.string(),
    name: z.string(),
    provider: z.string(),
    status: z.enum(['succeeded', 'failed', 'cancelled']),
    hardware: z.string().optional(),
    startedAt: z.string().optional(),
    endedAt: z.string().optional(),
    costUsd: z.number().nonnegative().optional(),
    step: z.number().optional(),
    totalSteps: z.number().optional(),
    loss: z.number().optional(),
    outputs: z.array(z.object({
      kind: z.enum(['file', 'directory', 'url', 'huggingface', 's3']),
      /** For url/huggingface/s3: where it is (query strings dropped: they can hold signatures). */
      uri: z.string().optional(),
      /** For file/directory: the base name only. */
      name: z.string().optional(),
    })),
  }).strict(),
  /** failed / delivery-failed: the provider's error or the last meaningful log line (secrets redacted). */
  reason: z.string().optional(),
}).strict();
export type JobEventPayload = z.infer<typeof JobEventPayloadSchema>;

function publicUri(uri: string): string {
  try {
    const u = new URL(uri);
    u.search = '';
    u.hash = '';
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return uri; // `owner/repo` (Hugging Face) and similar
  }
}

export function buildPayload(job: Job, kind: JobEventKind, at: string, reason?: string): JobEventPayload {
  const status = job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled' ? job.status : 'failed';
  return JobEventPayloadSchema.parse({
    schema: JOB_EVENT_SCHEMA_ID,
    event: kind,
    at,
    job: {
      id: job.id, name: job.name, provider: job.provider, status, hardware: job.hardware,
      startedAt: job.startedAt, endedAt: job.finishedAt, costUsd: job.cost?.actual,
      step: job.progress.step, totalSteps: job.progress.totalSteps, loss: job.progress.loss,
      outputs: job.outputs.map((o) => (o.kind === 'file' || o.kind === 'directory'
        ? { kind: o.kind, name: path.basename(o.uri) }
        : { kind: o.kind, uri: publicUri(o.uri) })),
    },
    reason: kind === 'failed' || kind === 'delivery-failed' ? reason : undefined,
  });
}

export const WebhookFormatSchema = z.enum(['slack', 'discord', 'ntfy', 'json']);
export type WebhookFormat = z.infer<typeof WebhookFormatSchema>;

/** Guess the format from well-known hosts; anything else gets the generic JSON body. */
export function inferFormat(url: string): WebhookFormat {
  let host = '';
  try { host = new URL(url).hostname; } catch { /* validated elsewhere */ }
  if (host === 'hooks.slack.com') return 'slack';
  if (/(^|\.)discord(app)?\.com$/.test(host)) return 'discord';
  if (host === 'ntfy.sh' || host.startsWith('ntfy.')) return 'ntfy';
  return 'json';
}

export interface WebhookRequest { headers: Record<string, string>; body: string }

export function summaryText(p: JobEventPayload): string {
  const parts = [eventTitle(p.job, p.event)];
  if (p.reason) parts.push(`Reason: ${p.reason}`);
  const facts = [p.job.costUsd !== undefined ? `cost $${p.job.costUsd.toFixed(2)}` : '', p.job.step !== undefined ? `step ${p.job.step}${p.job.totalSteps ? `/${p.job.totalSteps}` : ''}` : '', `id ${p.job.id}`].filter(Boolean);
  parts.push(facts.join(' · '));
  const remote = p.job.outputs.filter((o) => o.uri).map((o) => o.uri!);
  if (remote.length) parts.push(`Outputs: ${remote.join(', ')}`);
  return parts.join('\n');
}

/** RFC 2047 for non-ASCII header values (ntfy decodes it; a raw non-Latin-1 header is refused by fetch). */
function headerValue(s: string): string {
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

/**
 * The request for each service, per its published docs:
 * - Slack incoming webhook: JSON `{"text": …}` (https://api.slack.com/messaging/webhooks)
 * - Discord execute webhook: JSON `{"content": …}`, at most 2000 characters
 *   (https://discord.com/developers/docs/resources/webhook#execute-webhook)
 * - ntfy: the message as the plain-text POST body, `Title` and `Tags` (comma-separated emoji
 *   short codes) as headers (https://docs.ntfy.sh/publish/)
 * - json: the versioned payload above.
 */
export function formatRequest(format: WebhookFormat, p: JobEventPayload): WebhookRequest {
  const text = summaryText(p);
  switch (format) {
    case 'slack': return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) };
    case 'discord': return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: text.length > 2000 ? `${text.slice(0, 1999)}…` : text }) };
    case 'ntfy': {
      const tags = p.event === 'succeeded' ? 'white_check_mark' : p.event === 'cancelled' ? 'no_entry_sign' : p.event === 'failed' ? 'x' : 'warning';
      const [title, ...rest] = text.split('\n');
      return { headers: { 'content-type': 'text/plain; charset=utf-8', title: headerValue(title!), tags }, body: rest.join('\n') || title! };
    }
    case 'json': return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(p) };
  }
}
