import { NotificationLevel, NotificationLevelSchema } from './events';
import { WebhookFormatSchema, inferFormat } from './payload';
import type { WebhookTarget } from './notifier';

/** A webhook URL as typed by the user: http(s) only; the format given or guessed from the host. */
export function webhookTarget(url: string | undefined, format?: string): WebhookTarget | undefined {
  const u = url?.trim();
  if (!u) return undefined;
  let parsed: URL;
  try { parsed = new URL(u); } catch { throw new Error('The notification webhook is not a valid URL'); }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('The notification webhook must be an http(s) URL');
  const f = format?.trim() ? WebhookFormatSchema.safeParse(format.trim().toLowerCase()) : undefined;
  if (f && !f.success) throw new Error(`Unknown notification format "${format}" (slack, discord, ntfy or json)`);
  return { url: u, format: f?.data ?? inferFormat(u) };
}

/** The CLI's webhook: `CLOUD_TRAINING_NOTIFY_URL` (+ `_FORMAT`, `_LEVEL`). */
export function webhookFromEnv(env: NodeJS.ProcessEnv): { target?: WebhookTarget; level: NotificationLevel } {
  const level = NotificationLevelSchema.safeParse(env.CLOUD_TRAINING_NOTIFY_LEVEL?.trim() || 'all');
  return { target: webhookTarget(env.CLOUD_TRAINING_NOTIFY_URL, env.CLOUD_TRAINING_NOTIFY_FORMAT), level: level.success ? level.data : 'all' };
}
