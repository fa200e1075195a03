import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { DataRouteRefusedError, type DataPlan } from '../../core/submit/data-route';
import { formatBytes } from '../../core/format';
import type { PlanDataContext, ProviderContext } from '../../core/providers/types';
import { buildRouteArchive, readPackageIndex } from './archive';
import { planArchive, REPLICATE_UPLOAD_LIMIT_BYTES, type DataRequest } from './data-route';
import { ReplicateError } from './errors';
import type { TrainerOptions } from './options';
import type { HfDataRoute } from './remote-hf';
import { PACKAGE_DATALOADER_ENTRY, PACKAGE_TRAINING_CONFIG_ENTRY, readPackageEntries } from './package-contents';
import { sha256File } from './upload';

/** What `planData` decided, read back at submit time (kept in DataPlan.details; no secrets). */
export const PlanDetailsSchema = z.discriminatedUnion('route', [
  z.object({ route: z.literal('archive'), configJson: z.string().optional(), datasetId: z.string(), images: z.number().int() }),
  z.object({ route: z.literal('remote-s3'), configJson: z.string().optional(), dataloaderJson: z.string(), remote: z.unknown() }),
  z.object({ route: z.literal('remote-hf'), configJson: z.string().optional(), dataloaderJson: z.string(), remote: z.unknown() }),
]);
export type PlanDetails = z.infer<typeof PlanDetailsSchema>;

export interface RemoteRoutePlanner {
  /** Decide (nothing uploaded yet): where each dataset goes, the dataloader rewritten to `type: aws`, the consent facts. */
  planS3(req: Extract<DataRequest, { kind: 's3' }>, pkg: { path: string; id: string }, dataloader: unknown, ctx: PlanDataContext): Promise<DataPlan>;
  /** After consent: upload what is missing, get the trainer's read keys; the dataloader to send and the secrets to scrub. */
  prepare(remote: unknown, dataloaderJson: string, packagePath: string, jobId: string, ctx: ProviderContext): Promise<{ dataloaderJson: string; secrets: string[] }>;
  /** The job ended: revoke its read keys. */
  revoke(jobId: string): Promise<void>;
}

/** The two ways out every refusal names (README "Replicate: how the trainer gets your data"). */
export const WAYS_OUT = [
  'let the trainer read the datasets from a bucket, `--data s3://bucket/prefix` (Submit… → "S3 bucket"; read-only per-job keys), or from a private HuggingFace dataset repo, `--data hf:owner/dataset`;',
  'or make the dataloader fit the archive route: one local image dataset whose captions are file names (caption_strategy filename) or single-line .txt captions without "_" or "/", under 100 MiB.',
];

/** The configs to send: from the options, else from the package (the packager's rewritten copies, credentials removed). */
export async function trainerConfigs(o: TrainerOptions, packagePath: string): Promise<{ configJson?: string; dataloaderJson: string }> {
  if (o.configJson !== undefined && o.dataloaderJson !== undefined) return { configJson: o.configJson, dataloaderJson: o.dataloaderJson };
  let entries: Map<string, string>;
  try {
    entries = await readPackageEntries(packagePath, [PACKAGE_DATALOADER_ENTRY, PACKAGE_TRAINING_CONFIG_ENTRY]);
  } catch (e) {
    throw new ReplicateError(`Could not read the configs from the package ${packagePath}: ${(e as Error).message}`);
  }
  const dataloaderJson = o.dataloaderJson ?? entries.get(PACKAGE_DATALOADER_ENTRY);
  if (dataloaderJson === undefined) throw new ReplicateError(`The package has no ${PACKAGE_DATALOADER_ENTRY} and no dataloader config was given: SimpleTuner would not find the datasets.`);
  return { configJson: o.configJson ?? entries.get(PACKAGE_TRAINING_CONFIG_ENTRY), dataloaderJson };
}

export function parseJsonObject(text: string | undefined, what: string): Record<string, unknown> {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* below */ }
  throw new ReplicateError(`${what} is not a JSON object.`);
}

/**
 * Decide how SimpleTuner's Replicate trainer will get this package's data (see data-route.ts for the
 * runner's behaviour this follows). Nothing is uploaded here; the archive route's archive is built
 * locally (content-addressed) so consent can show its exact size.
 */
export async function planTrainerData(o: TrainerOptions, packagePath: string, packageId: string | undefined, ctx: PlanDataContext, remote?: RemoteRoutePlanner, hf?: HfDataRoute): Promise<DataPlan> {
  const { configJson, dataloaderJson } = await trainerConfigs(o, packagePath);
  let dataloader: unknown;
  try { dataloader = JSON.parse(dataloaderJson); } catch { throw new ReplicateError('The dataloader config is not valid JSON.'); }
  const training = parseJsonObject(configJson, 'The training config');
  const req: DataRequest = o.data ?? { kind: 'auto' };
  const id = packageId ?? (await sha256File(packagePath, ctx.signal));

  const remotePlan = async (r: Extract<DataRequest, { kind: 's3' | 'hf' }>): Promise<DataPlan> => {
    if (r.kind === 's3' && !remote) throw new DataRouteRefusedError(['The S3 data route is not available here.'], WAYS_OUT.slice(1));
    if (r.kind === 'hf' && !hf) throw new DataRouteRefusedError(['The HuggingFace dataset route is not available here.'], WAYS_OUT);
    const plan = r.kind === 's3' ? await remote!.planS3(r, { path: packagePath, id }, dataloader, ctx) : await hf!.planHf(r, { path: packagePath }, dataloader, ctx);
    return { ...plan, details: { ...(plan.details as object), configJson } };
  };
  if (req.kind === 's3' || req.kind === 'hf') return remotePlan(req);
  /** Automatic with a configured remote location: the archive route did not fit, so use it and say why in consent. */
  const fallBack = async (reasons: string[]): Promise<DataPlan> => {
    const f = (req as Extract<DataRequest, { kind: 'auto' }>).fallback!;
    const where = f.kind === 's3' ? `s3://${f.bucket}${f.prefix ? `/${f.prefix}` : ''}` : `hf:${f.repo}`;
    ctx.report?.(`The archive route does not fit; using the configured ${where}`);
    const plan = await remotePlan(f);
    return { ...plan, summary: { ...plan.summary, detail: [`Automatic: the archive route does not fit (${reasons.join(' ')}), so the configured ${where} is used instead.`, ...plan.summary.detail] } };
  };
  const fallback = req.kind === 'auto' && req.fallback !== undefined;

  ctx.report?.('Checking what SimpleTuner\'s Replicate trainer can read');
  const index = await readPackageIndex(packagePath);
  const a = planArchive(dataloader, training, index);
  if (!a.ok) {
    if (fallback) return fallBack(a.reasons);
    throw new DataRouteRefusedError(a.reasons, WAYS_OUT);
  }
  ctx.report?.(`Preparing the archive of ${a.files.length} images`);
  const archive = await buildRouteArchive(packagePath, id, a.files, path.join(ctx.cacheDir, 'replicate-archives'), ctx.signal);
  if (archive.bytes > REPLICATE_UPLOAD_LIMIT_BYTES) {
    await fs.rm(archive.path, { force: true }); // never uploadable: not worth keeping
    if (fallback) return fallBack([`The archive would be ${formatBytes(archive.bytes)}; Replicate's Files API accepts up to 100 MiB.`]);
    throw new DataRouteRefusedError([`The archive is ${formatBytes(archive.bytes)}; Replicate's Files API accepts up to 100 MiB.`], WAYS_OUT.slice(0, 1));
  }
  const captions = a.captionSource === 'filename' ? 'captioned from their file names' : a.captionSource === 'textfile' ? 'renamed to their .txt captions' : 'named by the instance prompt';
  return {
    summary: {
      route: 'archive',
      title: `Archive: Replicate's trainer unpacks ${a.files.length} images of "${a.datasetId}" (${captions}) and builds its own one-dataset config`,
      detail: [
        `Uploaded: one ${formatBytes(archive.bytes)} archive holding only the images (${archive.reused ? 'already built; ' : ''}nothing else from the workspace).`,
        'No dataloader config is sent: with one, the trainer would not unpack the archive (SimpleTuner cog.py).',
      ],
      changes: a.changes,
    },
    upload: { path: archive.path, sha256: archive.sha256, bytes: archive.bytes },
    sent: [{ id: a.datasetId, files: a.files.length, bytes: a.files.reduce((n, f) => n + f.size, 0) }],
    details: { route: 'archive', configJson, datasetId: a.datasetId, images: a.files.length } satisfies PlanDetails,
  };
}
