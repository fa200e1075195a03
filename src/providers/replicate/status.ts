import type { JobOutput, JobStatus } from '../../core/jobs/schema';
import type { StatusUpdate } from '../../core/providers/types';
import { ReplicateRun, ReplicateStatus, TrainingOutputSchema } from './api';
import { costFor } from './hardware';

/**
 * Replicate → our states. `starting` covers queueing and booting the model; `aborted` means Replicate
 * stopped it before it ran (e.g. a deadline) — a failure unless the user had asked to cancel.
 */
export function mapStatus(s: ReplicateStatus, cancelRequested = false): JobStatus {
  switch (s) {
    case 'starting': return 'starting';
    case 'processing': return 'running';
    case 'succeeded': return 'succeeded';
    case 'failed': return 'failed';
    case 'canceled': return 'cancelled';
    case 'aborted': return cancelRequested ? 'cancelled' : 'failed';
  }
}

export const isActiveRun = (s: ReplicateStatus): boolean => s === 'starting' || s === 'processing';

export interface RunContext {
  kind: 'prediction' | 'training';
  hardware?: string;
  destination?: string;
  cancelRequested?: boolean;
  now?: number;
  /** The results destination's own output (HF repo, S3 prefix, local folder), when one was planned. */
  resultsOutput?: JobOutput;
}

/** One Replicate prediction/training (from a poll or a webhook) → our StatusUpdate. */
export function runToUpdate(run: ReplicateRun, c: RunContext): StatusUpdate {
  const status = mapStatus(run.status, c.cancelRequested);
  const update: StatusUpdate = { status, providerStatus: run.status };
  if (run.status === 'starting') update.statusDetail = 'Starting on Replicate (queued or booting the model)';
  if (run.status === 'aborted') update.statusDetail = 'Aborted by Replicate before it finished';
  if (run.started_at) update.startedAt = run.started_at;
  if (run.completed_at) update.finishedAt = run.completed_at;
  if (status === 'failed' && run.error) update.error = typeof run.error === 'string' ? run.error : JSON.stringify(run.error);
  if (status === 'failed' && !update.error && run.status === 'aborted') update.error = 'Replicate aborted the job';

  // Billed time: Replicate's predict_time when known; while running, the time since it started.
  const predictTime = run.metrics?.predict_time ?? undefined;
  const accrued = predictTime ?? (run.status === 'processing' && run.started_at ? Math.max(0, ((c.now ?? Date.now()) - Date.parse(run.started_at)) / 1000) : undefined);
  if (accrued !== undefined && c.hardware) update.cost = costFor(c.hardware, accrued);

  const metadata: Record<string, unknown> = {};
  if (predictTime !== undefined) metadata.replicatePredictTime = predictTime;
  if (status === 'succeeded') {
    const outputs = outputsOf(run, c);
    if (c.resultsOutput && !outputs.some((o) => o.uri === c.resultsOutput!.uri)) outputs.unshift(c.resultsOutput);
    if (outputs.length) update.outputs = outputs;
    if (c.kind === 'training') {
      const out = TrainingOutputSchema.safeParse(run.output);
      if (out.success) {
        if (out.data.version) metadata.replicateOutputVersion = out.data.version;
        if (out.data.weights) metadata.replicateOutputWeights = out.data.weights;
      }
    }
  }
  if (Object.keys(metadata).length) update.metadata = metadata;
  return update;
}

function outputsOf(run: ReplicateRun, c: RunContext): JobOutput[] {
  if (c.kind === 'training') {
    const out = TrainingOutputSchema.safeParse(run.output);
    if (!out.success) return [];
    const list: JobOutput[] = [];
    const dest = c.destination ?? run.destination ?? undefined;
    if (out.data.version) {
      const version = out.data.version.includes(':') ? out.data.version.split(':').pop()! : out.data.version;
      list.push({ kind: 'url', uri: dest ? `https://replicate.com/${dest}/versions/${version}` : out.data.version, label: `Replicate version ${dest ? `${dest}:` : ''}${version.slice(0, 12)}` });
    }
    if (out.data.weights) list.push({ kind: 'url', uri: out.data.weights, label: 'Trained weights' });
    return list;
  }
  // SimpleTuner's trainer returns one string: an HF URL, an S3/endpoint URL, or a sentence.
  const values = Array.isArray(run.output) ? run.output : [run.output];
  const list: JobOutput[] = [];
  for (const v of values) {
    if (typeof v !== 'string') continue;
    const url = /(https?:\/\/\S+|s3:\/\/\S+)/.exec(v)?.[1];
    if (!url) continue;
    const kind: JobOutput['kind'] = url.startsWith('https://huggingface.co/') ? 'huggingface' : url.startsWith('s3://') ? 's3' : 'url';
    list.push({ kind, uri: url, label: kind === 'huggingface' ? 'HuggingFace Hub' : 'Published checkpoints' });
  }
  return list;
}
