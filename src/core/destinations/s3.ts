import { createReadStream } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { JobOutput } from '../jobs/schema';
import { joinKey, listOutputFiles } from './files';
import { DeliveryProgress, S3Destination, SecretLookup, s3SecretName } from './schema';
import { loadVendor } from '../../vendor/load';

export interface S3Credentials { accessKeyId: string; secretAccessKey: string }

/** The destination's keys: SecretStorage for a configured access key id, else AWS_* from the environment. */
export async function resolveS3Credentials(dest: S3Destination, secrets: SecretLookup, env: NodeJS.ProcessEnv): Promise<S3Credentials> {
  if (dest.accessKeyId) {
    const secretAccessKey = await secrets(s3SecretName(dest.accessKeyId));
    if (!secretAccessKey) throw new Error(`No secret key stored for S3 access key ${dest.accessKeyId} (set it with "Cloud Training: Set S3 Secret Key").`);
    return { accessKeyId: dest.accessKeyId, secretAccessKey };
  }
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY };
  throw new Error('No S3 credentials: set accessKeyId on the destination (secret in SecretStorage) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.');
}

export type AwsSdk = typeof import('../../vendor/aws-s3');
/** The SDK (its own file, see src/vendor/load.ts): loaded on first delivery, not at activation. */
export const awsSdk = () => loadVendor<AwsSdk>('aws-s3');

export async function s3Client(dest: S3Destination, creds: S3Credentials): Promise<S3Client> {
  const { S3Client } = awsSdk();
  return new S3Client({ endpoint: dest.endpoint, region: dest.region, forcePathStyle: dest.forcePathStyle, credentials: creds });
}

/**
 * Uploads every file of `folder` to `s3://bucket/prefix/<relative path>`, streaming each file
 * (multipart above the part size), one file at a time with parallel parts. Honours `signal`.
 */
export async function uploadFolderToS3(opts: {
  folder: string; dest: S3Destination; credentials: S3Credentials; signal?: AbortSignal; onProgress?: DeliveryProgress; partSize?: number;
}): Promise<JobOutput[]> {
  const files = await listOutputFiles(opts.folder);
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  const client = await s3Client(opts.dest, opts.credentials);
  const { Upload } = awsSdk();
  let done = 0;
  try {
    for (const f of files) {
      opts.signal?.throwIfAborted();
      const key = joinKey(opts.dest.prefix, f.rel);
      const upload = new Upload({
        client,
        params: { Bucket: opts.dest.bucket, Key: key, Body: createReadStream(f.abs), ContentLength: f.size },
        partSize: opts.partSize ?? 8 * 1024 * 1024,
        queueSize: 4,
        leavePartsOnError: false,
      });
      const onAbort = (): void => void upload.abort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      upload.on('httpUploadProgress', (p) => opts.onProgress?.({ bytes: done + (p.loaded ?? 0), totalBytes, file: f.rel }));
      try {
        await upload.done();
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
      }
      done += f.size;
      opts.onProgress?.({ bytes: done, totalBytes, file: f.rel });
    }
  } finally {
    client.destroy();
  }
  const base = opts.dest.endpoint ? `${opts.dest.endpoint.replace(/\/+$/, '')}/${opts.dest.bucket}` : `s3://${opts.dest.bucket}`;
  return [{ kind: 's3', uri: `${base}/${joinKey(opts.dest.prefix, '')}`, label: `${files.length} files → ${opts.dest.bucket}/${opts.dest.prefix}`, bytes: totalBytes }];
}
