import type { JobHistory } from '../../core/jobs/history';
import { applyStatus } from '../../core/jobs/monitor';
import { isTerminal } from '../../core/jobs/schema';
import { syncLogMirror } from '../../core/logs/mirror';
import { RunSchema } from './api';
import type { ReplicateProvider } from './provider';

export interface ReplicateWebhookDeps {
  history: JobHistory;
  provider: () => ReplicateProvider;
  dataHome: string;
  log?(line: string): void;
}

/**
 * What the local server's webhook route calls for provider "replicate" once a delivery is verified
 * (signature, timestamp, replay — src/server/webhooks.ts): apply the prediction/training to its job
 * and pull the new log lines into the mirror right away. Polling stays the fallback, so a delivery for
 * a job we do not (yet) know is simply ignored.
 */
export function createReplicateWebhookHandler(deps: ReplicateWebhookDeps): (payload: unknown) => Promise<void> {
  return async (payload) => {
    const run = RunSchema.safeParse(payload);
    if (!run.success) throw new Error(`not a Replicate prediction or training: ${run.error.issues[0]?.message ?? 'invalid'}`);
    const job = (await deps.history.list()).find((j) => j.provider === 'replicate' && j.providerJobId === run.data.id);
    if (!job) {
      deps.log?.(`Replicate webhook for ${run.data.id}: no such job here (yet); polling will catch up`);
      return;
    }
    if (isTerminal(job.status) && job.metadata.finalized === true) return;
    const provider = deps.provider();
    const update = provider.handleWebhook(job, payload);
    const updated = await deps.history.update(job.id, (j) => applyStatus(j, update));
    if (updated?.logPath) await syncLogMirror(updated, provider, { dataHome: deps.dataHome });
  };
}
