import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { DataRouteRefusedError, type DataPlan } from '../../core/submit/data-route';
import { formatBytes } from '../../core/format';
import type { CredentialMinter, CredentialRevoker } from '../../core/destinations/local';
import { awsSdk, s3Client, uploadFolderToS3, type S3Credentials } from '../../core/destinations/s3';
import { s3SecretName, type S3Destination, type SecretLookup } from '../../core/destinations/schema';
import type { PlanDataContext, ProviderContext } from '../../core/providers/types';
import { readPackageIndex } from './archive';
import { extractFromPackage } from './package-extract';
import { datasetsOf, imageDatasets, isRemoteEntry, packagePrefix, type DataRequest, type DataloaderEntry } from './data-route';
import { ReplicateError, scrub } from './errors';
import { PACKAGE_MANIFEST_ENTRY, readPackageEntries } from './package-contents';
import type { RemoteRoutePlanner } from './plan';

/**
 * The remote-data route over S3: each packaged dataset is put under its own content-addressed key
 * prefix in a bucket, and the dataloader sent to the trainer says `type: aws` with the keys
 * SimpleTuner's aws builder reads (helpers/data_backend/builders/aws.py: aws_bucket_name,
 * aws_data_prefix, aws_endpoint_url, aws_region_name, aws_access_key_id, aws_secret_access_key).
 * Those keys are part of the prediction input, which anyone with access to the Replicate account can
 * read: so they are read-only, limited to that one dataset's prefix, expire, and are revoked when the
 * job ends — on the built-in endpoint, which mints such keys per job (src/server/s3/credentials.ts).
 * On another S3 service the user names a read-only key of their own (`readAccessKeyId`); their
 * write key never leaves this machine.
 */
export interface S3RouteDeps {
  localServer?(): { minter: CredentialMinter & Partial<CredentialRevoker>; storageEndpoint: string; storageDir: string } | undefined;
  secrets?: SecretLookup;
  /** How long the trainer's read keys live (revoked earlier when the job ends). Default 24 h. */
  readTtlSeconds?: number;
}

const DatasetPlanSchema = z.object({ id: z.string(), packagePrefix: z.string(), key: z.string(), files: z.number().int(), bytes: z.number() });
export const S3RoutePlanSchema = z.object({
  mode: z.enum(['builtin', 'own']),
  /** Where the trainer reads (the public URL of the built-in endpoint, or the service's endpoint). */
  endpoint: z.string().optional(),
  /** Where we upload (the built-in endpoint's local URL, or the same endpoint). */
  uploadEndpoint: z.string().optional(),
  region: z.string(),
  bucket: z.string(),
  datasets: z.array(DatasetPlanSchema),
  writeKeyId: z.string().optional(),
  readKeyId: z.string().optional(),
  ttlSeconds: z.number().int().positive(),
});
export type S3RoutePlan = z.infer<typeof S3RoutePlanSchema>;

const COMPLETE_MARKER = '.cloudtrain-complete';
const DEFAULT_READ_TTL_S = 24 * 3600;

export class S3DataRoute implements RemoteRoutePlanner {
  constructor(private readonly deps: S3RouteDeps) {}

  async planS3(req: Extract<DataRequest, { kind: 's3' }>, pkg: { path: string; id: string }, dataloader: unknown, ctx: PlanDataContext): Promise<DataPlan> {
    const local = this.deps.localServer?.();
    const own = !!req.accessKeyId;
    if (!own && !local) {
      throw new DataRouteRefusedError(['The S3 route needs either the built-in storage endpoint (it starts with the extension or `cloudtrain serve`) or an S3 service with an access key you configured.'], [
        'start the local server and expose it (e.g. a tunnel URL as the endpoint), or name your own bucket with an access key and a separate read-only key;',
        'or use the archive route (`--data archive`) if the dataloader fits it.',
      ]);
    }
    if (own && !req.readAccessKeyId) {
      throw new DataRouteRefusedError([
        `The trainer would need keys to read s3://${req.bucket}, and they would be visible in your Replicate account; this route does not send your write key ${req.accessKeyId}.`,
      ], ['configure a read-only key limited to the bucket/prefix and name it as readAccessKeyId;', 'or use the built-in endpoint, which mints read-only per-job keys.']);
    }
    const entries = await readPackageEntries(pkg.path, [PACKAGE_MANIFEST_ENTRY]);
    const manifest = JSON.parse(entries.get(PACKAGE_MANIFEST_ENTRY) ?? '{"files":[]}') as { files: { path: string; size: number; sha256: string }[] };
    const index = await readPackageIndex(pkg.path);
    const prefix = req.prefix.replace(/^\/+|\/+$/g, '');
    const datasets: S3RoutePlan['datasets'] = [];
    for (const d of imageDatasets(dataloader)) {
      if (isRemoteEntry(d)) continue; // already read from elsewhere by the trainer: left as it is
      const p = packagePrefix(d);
      if (!p) throw new DataRouteRefusedError([`Dataset "${String(d.id)}" has no instance_data_dir.`], []);
      const files = manifest.files.filter((f) => f.path.startsWith(`${p}/`)).sort((a, b) => a.path.localeCompare(b.path));
      if (!files.length) throw new DataRouteRefusedError([`Dataset "${String(d.id)}" has no files in the package.`], []);
      // Content address: the dataset's own files (path inside it, size, sha256), not the whole package.
      const h = createHash('sha256');
      for (const f of files) h.update(`${f.path.slice(p.length + 1)}\0${f.size}\0${f.sha256}\n`);
      const key = `${prefix ? `${prefix}/` : ''}datasets/${h.digest('hex').slice(0, 32)}/`;
      datasets.push({ id: String(d.id), packagePrefix: p, key, files: files.length, bytes: files.reduce((n, f) => n + (index.sizes.get(f.path) ?? f.size), 0) });
    }
    if (!datasets.length) throw new DataRouteRefusedError(['No local dataset to put in the bucket.'], []);
    const plan: S3RoutePlan = {
      mode: own ? 'own' : 'builtin',
      endpoint: req.endpoint ?? (own ? undefined : local!.storageEndpoint),
      uploadEndpoint: own ? req.endpoint : local!.storageEndpoint,
      region: req.region ?? 'us-east-1',
      bucket: req.bucket,
      datasets,
      writeKeyId: req.accessKeyId,
      readKeyId: req.readAccessKeyId,
      ttlSeconds: this.deps.readTtlSeconds ?? DEFAULT_READ_TTL_S,
    };
    const where = plan.endpoint ? `${plan.endpoint.replace(/\/+$/, '')}/${plan.bucket}` : `s3://${plan.bucket}`;
    const total = datasets.reduce((n, d) => n + d.bytes, 0);
    const template = rewriteForS3(dataloader, plan, undefined);
    ctx.report?.(`The trainer will read ${datasets.length} dataset(s) from ${where}`);
    return {
      summary: {
        route: 'remote-s3',
        title: `Remote data (S3): the trainer reads ${datasets.length} dataset${datasets.length === 1 ? '' : 's'} from ${where} through SimpleTuner's aws backend; your dataloader config is kept, with those entries rewritten to type "aws"`,
        detail: [
          ...datasets.map((d) => `${d.id}: ${d.files} files, ${formatBytes(d.bytes)} → ${plan.bucket}/${d.key} (not uploaded again if already there)`),
          `Nothing but the configs goes to Replicate itself (${formatBytes(total)} to the bucket).`,
          ...(plan.mode === 'builtin' && !req.endpoint ? ['The built-in endpoint is on this machine: Replicate can only reach it if you expose it (e.g. a tunnel URL as the endpoint).'] : []),
        ],
        changes: [],
        credentials: plan.mode === 'builtin'
          ? `Per-job read-only keys minted by the built-in endpoint, one per dataset, each limited to its dataset's prefix, expiring after ${Math.round(plan.ttlSeconds / 3600)} h and revoked when the job ends. They are in the job's dataloader_json, visible in your Replicate account.`
          : `Your read-only key ${plan.readKeyId} (its secret from SecretStorage, or the environment in the CLI) is in the job's dataloader_json, visible in your Replicate account; your write key ${plan.writeKeyId} is used here only.`,
      },
      bytes: total,
      sent: datasets.map((d) => ({ id: d.id, files: d.files, bytes: d.bytes })),
      details: { route: 'remote-s3', dataloaderJson: JSON.stringify(template), remote: plan },
    };
  }

  /**
   * After consent, at submit: upload what is not in the bucket yet, get the trainer's read keys, and
   * return the dataloader with them filled in (plus the secrets to scrub from messages).
   */
  async prepare(remote: unknown, dataloaderJson: string, packagePath: string, jobId: string, ctx: ProviderContext): Promise<{ dataloaderJson: string; secrets: string[] }> {
    const plan = S3RoutePlanSchema.parse(remote);
    const local = this.deps.localServer?.();
    if (plan.mode === 'builtin' && !local) throw new ReplicateError('The built-in storage endpoint is no longer running; start it and submit again.');
    const uploadDest = (key: string): S3Destination => ({ kind: 's3', endpoint: plan.uploadEndpoint, region: plan.region, bucket: plan.bucket, prefix: key, forcePathStyle: true });
    const writeCreds = async (d: S3RoutePlan['datasets'][number]): Promise<S3Credentials> => {
      if (plan.mode === 'builtin') {
        const m = await local!.minter.mintJobCredentials({ jobId, bucket: plan.bucket, prefix: d.key, ttlSeconds: 3600 });
        return { accessKeyId: m.accessKeyId, secretAccessKey: m.secretAccessKey };
      }
      const secret = await this.deps.secrets?.(s3SecretName(plan.writeKeyId!));
      if (!secret) throw new ReplicateError(`No secret key stored for S3 access key ${plan.writeKeyId}.`);
      secrets.push(secret); // scrubbed from any message, like the read keys
      return { accessKeyId: plan.writeKeyId!, secretAccessKey: secret };
    };
    const reads = new Map<string, S3Credentials & { sessionToken?: string }>();
    const secrets: string[] = [];
    for (const d of plan.datasets) {
      const creds = await writeCreds(d);
      await this.toBucket(plan, d, async () => {
        if (await exists(uploadDest(d.key), creds, `${d.key}${COMPLETE_MARKER}`)) {
          ctx.log?.(`Dataset ${d.id} is already in ${plan.bucket}/${d.key}: not uploaded again`);
        } else {
          const tmp = await fs.mkdtemp(path.join(ctx.dataHome, 'replicate-s3-'));
          try {
            await extractFromPackage(packagePath, d.packagePrefix, tmp);
            ctx.report?.(`Uploading dataset ${d.id} to ${plan.bucket}/${d.key}`);
            await uploadFolderToS3({ folder: tmp, dest: uploadDest(d.key), credentials: creds, signal: ctx.signal, onProgress: (p) => ctx.report?.(`Uploading ${d.id}: ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}`, p.totalBytes ? p.bytes / p.totalBytes : undefined) });
            // Written last, alone: a dataset is "there" only when every file is.
            const marker = path.join(tmp, COMPLETE_MARKER);
            await fs.rm(tmp, { recursive: true, force: true });
            await fs.mkdir(tmp, { recursive: true });
            await fs.writeFile(marker, `${new Date().toISOString()}\n`);
            await uploadFolderToS3({ folder: tmp, dest: uploadDest(d.key), credentials: creds, signal: ctx.signal });
          } finally {
            await fs.rm(tmp, { recursive: true, force: true });
          }
        }
      }, secrets, ctx.signal);
      if (plan.mode === 'builtin') {
        const m = await local!.minter.mintJobCredentials({ jobId, bucket: plan.bucket, prefix: d.key, ttlSeconds: plan.ttlSeconds, readOnly: true });
        reads.set(d.id, { accessKeyId: m.accessKeyId, secretAccessKey: m.secretAccessKey });
        secrets.push(m.secretAccessKey);
      } else {
        const secret = await this.deps.secrets?.(s3SecretName(plan.readKeyId!));
        if (!secret) throw new ReplicateError(`No secret key stored for the read-only S3 key ${plan.readKeyId}.`);
        reads.set(d.id, { accessKeyId: plan.readKeyId!, secretAccessKey: secret });
        secrets.push(secret);
      }
    }
    return { dataloaderJson: JSON.stringify(rewriteForS3(JSON.parse(dataloaderJson), plan, reads)), secrets };
  }

  /**
   * A bucket failure is the bucket's, not Replicate's: say which bucket and why (e.g. "The specified
   * bucket does not exist"), secrets scrubbed; nothing was started, so it is not an unknown outcome.
   */
  private async toBucket(plan: S3RoutePlan, d: S3RoutePlan['datasets'][number], fn: () => Promise<void>, secrets: string[], signal?: AbortSignal): Promise<void> {
    try {
      await fn();
    } catch (e) {
      if (e instanceof ReplicateError || signal?.aborted) throw e;
      const where = `${plan.uploadEndpoint ? `${plan.uploadEndpoint.replace(/\/+$/, '')}/` : 's3://'}${plan.bucket}`;
      throw new ReplicateError(scrub(`Putting dataset ${d.id} in ${where} failed: ${(e as Error).message ?? String(e)}. Nothing was started on Replicate.`, secrets));
    }
  }

  /** The job ended: its read keys stop working now, not at expiry. */
  async revoke(jobId: string): Promise<void> {
    await this.deps.localServer?.()?.minter.revokeJob?.(jobId);
  }
}

/** The dataloader with the planned local datasets turned into `type: aws` entries (keys filled when given). */
export function rewriteForS3(dataloader: unknown, plan: S3RoutePlan, keys: Map<string, S3Credentials> | undefined): unknown {
  const byId = new Map(plan.datasets.map((d) => [d.id, d]));
  const rewrite = (d: DataloaderEntry): DataloaderEntry => {
    const p = byId.get(String(d.id));
    if (!p) return d;
    const { instance_data_dir: _dir, type: _type, ...rest } = d;
    const k = keys?.get(p.id);
    return {
      ...rest,
      type: 'aws',
      aws_bucket_name: plan.bucket,
      aws_data_prefix: p.key,
      aws_region_name: plan.region,
      ...(plan.endpoint ? { aws_endpoint_url: plan.endpoint } : {}),
      ...(k ? { aws_access_key_id: k.accessKeyId, aws_secret_access_key: k.secretAccessKey } : {}),
    };
  };
  const list = datasetsOf(dataloader).map(rewrite);
  return Array.isArray(dataloader) ? list : { ...(dataloader as object), datasets: list };
}

async function exists(dest: S3Destination, creds: S3Credentials, key: string): Promise<boolean> {
  const client = await s3Client(dest, creds);
  try {
    await client.send(new (awsSdk().HeadObjectCommand)({ Bucket: dest.bucket, Key: key }));
    return true;
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (e as { name?: string }).name === 'NotFound' || (e as { name?: string }).name === 'NoSuchBucket') return false;
    throw e;
  } finally {
    client.destroy();
  }
}

