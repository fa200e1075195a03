import path from 'node:path';
import type { JobHistory } from '../core/jobs/history';
import type { StoredEvent } from './s3/store';

/** Job id of an object stored under the per-job prefix `jobs/<jobId>/…` that job credentials are scoped to. */
export function jobIdOfKey(key: string): string | undefined {
  const m = /^jobs\/([^/]+)\//.exec(key);
  return m?.[1];
}

/**
 * Links objects that arrive on the local endpoint to their job: the job gets (once) a directory
 * output pointing at its folder in the storage, with the bytes received so far.
 */
export async function linkStoredObjectToJob(history: JobHistory, storageDir: string, e: StoredEvent): Promise<boolean> {
  const jobId = jobIdOfKey(e.key);
  if (!jobId) return false;
  const uri = path.join(storageDir, e.bucket, 'jobs', jobId);
  const updated = await history.update(jobId, (job) => {
    const outputs = [...job.outputs];
    const i = outputs.findIndex((o) => o.kind === 'directory' && o.uri === uri);
    if (i >= 0) outputs[i] = { ...outputs[i]!, bytes: (outputs[i]!.bytes ?? 0) + e.size };
    else outputs.push({ kind: 'directory', uri, label: 'Results (local endpoint)', bytes: e.size });
    return { ...job, outputs, updatedAt: new Date().toISOString() };
  });
  return updated !== undefined;
}
