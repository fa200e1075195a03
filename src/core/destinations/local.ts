import type { LocalEndpointDestination } from './schema';

/** What the local server's credential store offers (structurally; core does not import the server). */
export interface CredentialMinter {
  mintJobCredentials(req: { jobId: string; bucket: string; prefix: string; ttlSeconds: number; readOnly?: boolean }): Promise<{
    accessKeyId: string; secretAccessKey: string; expiresAt: string; bucket: string; prefix: string;
  }>;
}

/** The store's revocation, for credentials that must end with the job (structurally, like CredentialMinter). */
export interface CredentialRevoker { revokeJob(jobId: string): Promise<void> }

export interface LocalEndpointGrant {
  endpointUrl: string;
  bucket: string;
  prefix: string;
  accessKeyId: string;
  secretAccessKey: string;
  expiresAt: string;
}

/**
 * "Download only" mode: the job uploads its results to this machine's S3-compatible endpoint with
 * credentials that only reach `jobs/<jobId>/` of one bucket and expire. A remote provider can only
 * use this when the endpoint is reachable from it (a tunnel URL in `publicUrl`).
 */
export async function grantLocalEndpoint(opts: {
  jobId: string; dest: LocalEndpointDestination; minter: CredentialMinter; storageEndpoint: string;
}): Promise<LocalEndpointGrant> {
  const prefix = `jobs/${opts.jobId}/`;
  const minted = await opts.minter.mintJobCredentials({ jobId: opts.jobId, bucket: opts.dest.bucket, prefix, ttlSeconds: opts.dest.ttlSeconds });
  const endpointUrl = opts.dest.publicUrl ? `${opts.dest.publicUrl.replace(/\/+$/, '')}/api/cloud/storage` : opts.storageEndpoint;
  return { endpointUrl, bucket: minted.bucket, prefix: minted.prefix, accessKeyId: minted.accessKeyId, secretAccessKey: minted.secretAccessKey, expiresAt: minted.expiresAt };
}
