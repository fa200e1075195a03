import { webhookFromEnv } from '../core/notify/config';
import { JobNotifier } from '../core/notify/notifier';
import type { JobHistory } from '../core/jobs/history';
import type { CliIO } from './io';

/** How long a CLI command waits for pending webhook deliveries before it exits (they stay pending for the next process). */
const FLUSH_MS = 20_000;

/**
 * Sends the job events of finished jobs to `CLOUD_TRAINING_NOTIFY_URL`, for headless pipelines: the
 * same claims as the editor, so an event a window already sent is not sent again. No URL, no-op.
 */
export async function sendPendingNotifications(history: JobHistory, io: CliIO): Promise<void> {
  let config;
  try { config = webhookFromEnv(io.env); } catch (e) { io.stderr.write(`warning: ${(e as Error).message}\n`); return; }
  if (!config.target) return;
  const target = config.target;
  const notifier = new JobNotifier(history, { webhook: () => target, webhookLevel: () => config.level, log: (l) => io.stderr.write(`${l}\n`) });
  try {
    const ms = Number(io.env.CLOUD_TRAINING_NOTIFY_WAIT_MS);
    await notifier.flush(Number.isFinite(ms) && ms >= 0 ? ms : FLUSH_MS);
  } finally {
    notifier.dispose();
  }
}
