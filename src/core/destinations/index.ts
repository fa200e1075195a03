import path from 'node:path';
import type { JobOutput } from '../jobs/schema';
import { resolveHfToken, uploadFolderToHub } from './huggingface';
import { CredentialMinter, grantLocalEndpoint } from './local';
import { resolveS3Credentials, uploadFolderToS3 } from './s3';
import { DeliveryProgress, Destination, DestinationSchema, SecretLookup } from './schema';

export * from './schema';
export { uploadFolderToHub, resolveHfToken } from './huggingface';
export { uploadFolderToS3, resolveS3Credentials } from './s3';
export { grantLocalEndpoint } from './local';
export type { CredentialMinter, LocalEndpointGrant } from './local';

/**
 * What a job needs to deliver its own results: environment for the trainer (secrets: pass to the
 * job only, never store), non-secret settings safe for job metadata, and the output to show on the
 * job. Providers map these onto their inputs (e.g. Replicate's hf_token / hub_model_id / S3 fields).
 */
export interface DestinationPlan {
  destination: Destination;
  env: Record<string, string>;
  /** Non-secret; fine in job.metadata. */
  settings: Record<string, string>;
  /** Secret values in `env`, for providers that must redact them from logs. */
  secretValues: string[];
  output: JobOutput;
}

export interface PlanContext {
  jobId: string;
  secrets: SecretLookup;
  env: NodeJS.ProcessEnv;
  /** Needed for `local`: the running server's credential store and storage endpoint URL. */
  localServer?: { minter: CredentialMinter; storageEndpoint: string; storageDir: string };
}

export async function planDestination(input: unknown, ctx: PlanContext): Promise<DestinationPlan> {
  const destination = DestinationSchema.parse(input);
  switch (destination.kind) {
    case 'huggingface': {
      const token = await resolveHfToken(ctx.secrets, ctx.env);
      return {
        destination,
        env: { HF_TOKEN: token, HUB_MODEL_ID: destination.repoId },
        settings: { hub_model_id: destination.repoId, push_to_hub: 'true', hub_revision: destination.revision },
        secretValues: [token],
        output: { kind: 'huggingface', uri: `${destination.endpoint.replace(/\/+$/, '')}/${destination.repoId}`, label: destination.repoId },
      };
    }
    case 's3': {
      const creds = await resolveS3Credentials(destination, ctx.secrets, ctx.env);
      const prefix = `${destination.prefix.replace(/^\/+|\/+$/g, '')}${destination.prefix ? '/' : ''}${ctx.jobId}/`;
      const env: Record<string, string> = {
        AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_DEFAULT_REGION: destination.region,
        S3_BUCKET: destination.bucket, S3_PREFIX: prefix,
      };
      if (destination.endpoint) env.AWS_ENDPOINT_URL_S3 = destination.endpoint;
      return {
        destination, env, secretValues: [creds.secretAccessKey],
        settings: { s3_bucket: destination.bucket, s3_prefix: prefix, s3_region: destination.region, ...(destination.endpoint ? { s3_endpoint_url: destination.endpoint } : {}) },
        output: { kind: 's3', uri: `${destination.endpoint ?? 's3:/'}/${destination.bucket}/${prefix}`, label: `${destination.bucket}/${prefix}` },
      };
    }
    case 'local': {
      if (!ctx.localServer) throw new Error('The local results endpoint is not running (it starts with the extension or `cloudtrain serve`).');
      const g = await grantLocalEndpoint({ jobId: ctx.jobId, dest: destination, minter: ctx.localServer.minter, storageEndpoint: ctx.localServer.storageEndpoint });
      return {
        destination,
        env: {
          AWS_ACCESS_KEY_ID: g.accessKeyId, AWS_SECRET_ACCESS_KEY: g.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1',
          AWS_ENDPOINT_URL_S3: g.endpointUrl, S3_BUCKET: g.bucket, S3_PREFIX: g.prefix,
        },
        settings: { s3_endpoint_url: g.endpointUrl, s3_bucket: g.bucket, s3_prefix: g.prefix, s3_credentials_expire: g.expiresAt },
        secretValues: [g.secretAccessKey],
        output: { kind: 'directory', uri: path.join(ctx.localServer.storageDir, g.bucket, ...g.prefix.split('/').filter(Boolean)), label: 'Results (local endpoint)' },
      };
    }
  }
}

/** Delivers a finished job's local output folder (local/SSH jobs whose outputs we downloaded). */
export async function deliverFolder(folder: string, input: unknown, ctx: PlanContext & { signal?: AbortSignal; onProgress?: DeliveryProgress }): Promise<JobOutput[]> {
  const destination = DestinationSchema.parse(input);
  switch (destination.kind) {
    case 'huggingface':
      return uploadFolderToHub({ folder, dest: destination, token: await resolveHfToken(ctx.secrets, ctx.env), signal: ctx.signal, onProgress: ctx.onProgress });
    case 's3': {
      const credentials = await resolveS3Credentials(destination, ctx.secrets, ctx.env);
      const prefix = `${destination.prefix.replace(/^\/+|\/+$/g, '')}${destination.prefix ? '/' : ''}${ctx.jobId}/`;
      return uploadFolderToS3({ folder, dest: { ...destination, prefix }, credentials, signal: ctx.signal, onProgress: ctx.onProgress });
    }
    case 'local':
      // Already on this machine: nothing to move.
      return [{ kind: 'directory', uri: folder, label: 'Outputs' }];
  }
}
