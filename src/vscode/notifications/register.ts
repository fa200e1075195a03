import * as vscode from 'vscode';
import { NotificationLevel, NotificationLevelSchema } from '../../core/notify/events';
import { webhookFromEnv, webhookTarget } from '../../core/notify/config';
import { JobNotifier, type ShownEvent, type WebhookTarget } from '../../core/notify/notifier';
import { WebhookFormatSchema } from '../../core/notify/payload';
import type { JobHistory } from '../../core/jobs/history';
import * as z from 'zod';

const SECRET_KEY = 'cloudTraining.notifications.webhook';
const StoredWebhookSchema = z.object({ url: z.string(), format: WebhookFormatSchema });

function level(): NotificationLevel {
  const r = NotificationLevelSchema.safeParse(vscode.workspace.getConfiguration('cloudTraining').get('notifications.level', 'all'));
  return r.success ? r.data : 'all';
}

/** Shows an event this window won (core took the decision); the buttons run the job commands. */
function show(e: ShownEvent): void {
  const actions = ['Show Logs', ...(e.job.outputs.length ? ['Open Outputs'] : []), 'Open Job Details', ...(e.kind !== 'succeeded' ? ['Resubmit'] : [])];
  const message = e.reason ? `${e.title}: ${e.reason}` : e.title;
  const shown = e.kind === 'succeeded' ? vscode.window.showInformationMessage(message, ...actions)
    : e.kind === 'cancelled' ? vscode.window.showWarningMessage(message, ...actions)
      : vscode.window.showErrorMessage(message, ...actions);
  void shown.then((pick) => {
    const command = pick === 'Show Logs' ? 'cloudTraining.showLogs' : pick === 'Open Outputs' ? 'cloudTraining.openOutputs'
      : pick === 'Open Job Details' ? 'cloudTraining.openJobDetails' : pick === 'Resubmit' ? 'cloudTraining.resubmit' : undefined;
    if (command) void vscode.commands.executeCommand(command, e.job.id);
  });
}

/**
 * The window's notifier: job events from core, shown here when this window wins them, and sent to
 * the webhook from SecretStorage (else `CLOUD_TRAINING_NOTIFY_URL`). Returned so the monitor can
 * tell it when it finalised a job; history changes from other processes trigger a scan too.
 */
export function createWindowNotifier(context: vscode.ExtensionContext, history: JobHistory, log: vscode.LogOutputChannel): JobNotifier {
  let cached: Promise<WebhookTarget | undefined> | undefined;
  const webhook = () => (cached ??= (async () => {
    const stored = await context.secrets.get(SECRET_KEY);
    if (stored) {
      try { return StoredWebhookSchema.parse(JSON.parse(stored)); } catch { log.warn('The stored notification webhook is unreadable; set it again'); }
    }
    try { return webhookFromEnv(process.env).target; } catch (e) { log.warn((e as Error).message); return undefined; }
  })());
  const notifier = new JobNotifier(history, {
    show: { level, onEvent: show },
    webhook,
    webhookLevel: level,
    log: (l) => log.info(l),
  });
  context.subscriptions.push(notifier, context.secrets.onDidChange((e) => { if (e.key === SECRET_KEY) cached = undefined; }));

  context.subscriptions.push(vscode.commands.registerCommand('cloudTraining.setNotificationWebhook', async () => {
    const url = await vscode.window.showInputBox({
      title: 'Notification webhook', prompt: 'Slack or Discord incoming-webhook URL, an ntfy topic URL, or any URL that takes a JSON POST. Empty removes it.',
      password: true, ignoreFocusOut: true,
      validateInput: (v) => { try { webhookTarget(v); return undefined; } catch (e) { return (e as Error).message; } },
    });
    if (url === undefined) return;
    if (!url.trim()) {
      await context.secrets.delete(SECRET_KEY);
      void vscode.window.showInformationMessage('Cloud Training: notification webhook removed.');
      return;
    }
    const guess = webhookTarget(url)!.format;
    const pick = await vscode.window.showQuickPick(
      (['slack', 'discord', 'ntfy', 'json'] as const).map((f) => ({ label: f, description: f === guess ? 'detected from the URL' : undefined, f })),
      { title: 'Message format', placeHolder: `Detected: ${guess}` },
    );
    if (!pick) return;
    await context.secrets.store(SECRET_KEY, JSON.stringify(webhookTarget(url, pick.f)));
    void vscode.window.showInformationMessage(`Cloud Training: job events will be sent to the ${pick.f} webhook (kept in SecretStorage).`);
  }));
  return notifier;
}
