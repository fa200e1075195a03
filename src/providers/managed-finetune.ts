import path from 'node:path';
import type { Job } from '../core/jobs/schema';
import { DatasetInvalidError, type FinetunePlanFile } from '../core/finetune/plan';
import { validateDataset } from '../core/finetune/validate';
import type { FinetuneOptions } from '../core/finetune/options';

/**
 * What the managed fine-tuning providers (Together, Fireworks) share: the dataset check before any
 * upload, the record of uploads kept in job metadata, and the log rendering rule.
 */

/** One file this job sent (or reused) at the provider; kept in `job.metadata.finetuneUploads`. */
export interface UploadRecord {
  role: 'training' | 'validation';
  /** The provider's id: Together file id, Fireworks dataset id. */
  id: string;
  reused: boolean;
  bytes: number;
}

export function uploadsOf(job: Job): UploadRecord[] {
  const u = job.metadata.finetuneUploads;
  return Array.isArray(u) ? (u as UploadRecord[]) : [];
}

/**
 * Validate every file the job would send, streaming each; the first with an error stops the submission
 * before any request to the provider (the error names the line and the field).
 */
export async function assertDatasetsValid(o: FinetuneOptions, signal?: AbortSignal): Promise<void> {
  const files: [FinetunePlanFile['role'], string | undefined][] = [['training', o.trainingFile], ['validation', o.validationFile]];
  for (const [role, file] of files) {
    if (!file) continue;
    const v = await validateDataset(file, { signal });
    if (!v.ok) {
      throw new DatasetInvalidError({
        role, path: file, bytes: v.bytes, lines: v.lines, examples: v.examples, format: v.format, tokens: 0, tokensExact: false,
        errors: v.errors, diagnostics: v.diagnostics,
      });
    }
  }
}

/**
 * Log text is rebuilt from the provider's state on every fetch and sliced at the caller's byte offset,
 * so the rendering must only ever grow (append-only, deterministic): no poll times, no counters of ours.
 * While the job is active only whole lines are returned.
 */
export function sliceLog(text: string, offset: number, active: boolean): Buffer {
  const buf = Buffer.from(text, 'utf8');
  const end = active ? buf.lastIndexOf(0x0a) + 1 : buf.length;
  return offset >= end ? Buffer.alloc(0) : buf.subarray(offset, end);
}

/** Where downloaded outputs go: `<workspace>/outputs/<job>` as SSH/Slurm do, else the data folder's. */
export function outputDirFor(job: Job, dataHome: string): string {
  return path.join(job.workspace ?? dataHome, 'outputs', job.id);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
