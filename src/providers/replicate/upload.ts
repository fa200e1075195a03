import { createHash } from 'node:crypto';
import { createReadStream, openAsBlob, promises as fs } from 'node:fs';
import path from 'node:path';
import type Replicate from 'replicate';
import { FileSchema, ReplicateFile, pageOf } from './api';
import { uploadScope } from './transport';
import { formatBytes } from '../../core/format';

export interface UploadRequest {
  path: string;
  sha256?: string;
  jobId: string;
  signal?: AbortSignal;
  report?(message: string, fraction?: number): void;
}

export interface UploadResult { file: ReplicateFile; reused: boolean; sha256: string }

const FilePage = pageOf(FileSchema);
/** Files about to expire are not worth reusing: the job may start after they are gone. */
const MIN_REMAINING_MS = 60 * 60 * 1000;
const MAX_LIST_PAGES = 10;

/**
 * Put the package on Replicate's file hosting: reuse an earlier upload with the same sha256 (kept in the
 * file's metadata) or stream it from disk as a file-backed Blob — never read whole.
 */
export async function uploadPackage(client: Replicate, req: UploadRequest): Promise<UploadResult> {
  const { size } = await fs.stat(req.path);
  const sha256 = req.sha256 ?? (await sha256File(req.path, req.signal));
  const existing = await findUpload(client, sha256, size, req.signal);
  if (existing) {
    req.report?.('Package already on Replicate (same sha256): reusing it', 1);
    return { file: existing, reused: true, sha256 };
  }
  const blob = await openAsBlob(req.path, { type: 'application/zip' });
  const file = new File([blob], path.basename(req.path), { type: 'application/zip' });
  const metadata = { sha256, cloudtrain_job: req.jobId, filename: path.basename(req.path) };
  req.report?.(`Uploading package (${formatBytes(size)})`, 0);
  const send = () => uploadScope.run(
    { totalBytes: size, path: req.path, name: path.basename(req.path), onProgress: (sent, total) => req.report?.(`Uploading package ${Math.floor((sent / total) * 100)}% of ${formatBytes(total)}`, sent / total) },
    () => client.files.create(file, metadata, { signal: req.signal }),
  );
  try {
    return { file: FileSchema.parse(await send()), reused: false, sha256 };
  } catch (e) {
    // The upload may have landed even though no answer came: look before sending it again, once.
    if (!outcomeUnknown(e) || req.signal?.aborted) throw e;
    const landed = await findUpload(client, sha256, size, req.signal).catch(() => undefined);
    if (landed) return { file: landed, reused: false, sha256 };
    req.report?.('Upload interrupted; sending the package again', 0);
    return { file: FileSchema.parse(await send()), reused: false, sha256 };
  }
}

export async function findUpload(client: Replicate, sha256: string, size: number | undefined, signal?: AbortSignal): Promise<ReplicateFile | undefined> {
  let pages = 0;
  for await (const page of client.paginate(() => client.files.list({ signal }), { signal })) {
    const files = FilePage.shape.results.parse(page);
    for (const f of files) {
      const meta = (f.metadata ?? {}) as Record<string, unknown>;
      const sameContent = meta.sha256 === sha256 || f.checksums?.sha256 === sha256;
      const sameSize = size === undefined || f.size === undefined || f.size === size;
      const fresh = !f.expires_at || Date.parse(f.expires_at) - Date.now() > MIN_REMAINING_MS;
      if (sameContent && sameSize && fresh) return f;
    }
    if (++pages >= MAX_LIST_PAGES) break;
  }
  return undefined;
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { signal })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** 5xx, our transport's "no answer" (599), or a network error: the server may or may not have the file. */
function outcomeUnknown(e: unknown): boolean {
  const status = (e as { response?: { status?: number } })?.response?.status;
  if (typeof status === 'number') return status >= 500;
  return e instanceof TypeError;
}
