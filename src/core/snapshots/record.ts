import path from 'node:path';
import type { JobHistory } from '../jobs/history';
import type { Job } from '../jobs/schema';
import { snapshotConfigs, type SnapshotResult } from './git-snapshot';

export type RecordSnapshotOutcome =
  | { kind: 'recorded'; ref: string; commit: string; repoRoot: string; job: Job }
  | { kind: 'skipped'; reason: 'no-configs' | 'not-a-repo'; message: string }
  | { kind: 'failed'; message: string };

/** The config files of a job that a snapshot records: its training and dataloader configs. */
export function snapshotFilesOf(job: Pick<Job, 'configPaths'>): string[] {
  return [job.configPaths.training, job.configPaths.dataloader].filter((f): f is string => !!f);
}

/**
 * Record a job's configs under refs/cloud-training/<job> (see snapshotConfigs: git plumbing on a
 * private index, the user's tree/index/branch never move) and store the ref on the job: `snapshotRef`,
 * plus `metadata.snapshotCommit`, `snapshotRepo` and `snapshotFiles`. Shared by the editor's Submit
 * and `cloudtrain submit`. Never throws: a workspace outside git or a git failure is an outcome, so a
 * snapshot can never fail a submission that the provider already accepted.
 * `cwd` is any folder inside the repository (the workspace); default the first config's folder.
 */
export async function recordJobSnapshot(history: JobHistory, job: Job, opts: { cwd?: string; signal?: AbortSignal } = {}): Promise<RecordSnapshotOutcome> {
  const files = snapshotFilesOf(job);
  if (!files.length) return { kind: 'skipped', reason: 'no-configs', message: `job ${job.id} has no training or dataloader config to snapshot` };
  const cwd = opts.cwd ?? path.dirname(files[0]!);
  let snap: SnapshotResult | undefined;
  try {
    snap = await snapshotConfigs({ cwd, jobId: job.id, files, message: `cloud-training: configs of job ${job.id} (${job.name})\n`, signal: opts.signal });
  } catch (e) {
    return { kind: 'failed', message: (e as Error).message.split('\n')[0]! };
  }
  if (!snap) return { kind: 'skipped', reason: 'not-a-repo', message: `${cwd} is not in a git repository` };
  const s = snap;
  try {
    const updated = await history.update(job.id, (j) => ({
      ...j, snapshotRef: s.ref, metadata: { ...j.metadata, snapshotCommit: s.commit, snapshotRepo: s.repoRoot, snapshotFiles: s.files.map((f) => f.path) },
    }));
    return { kind: 'recorded', ref: s.ref, commit: s.commit, repoRoot: s.repoRoot, job: updated ?? { ...job, snapshotRef: s.ref } };
  } catch (e) {
    return { kind: 'failed', message: `${s.ref} was recorded but could not be stored on the job: ${(e as Error).message.split('\n')[0]}` };
  }
}
