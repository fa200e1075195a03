import * as z from 'zod';

export const PACKAGE_DATALOADER = 'multidatabackend.json';
export const PACKAGE_TRAINING_CONFIG = 'config/config.json';
export const PACKAGE_MANIFEST = 'manifest.json';

export const ManifestFileSchema = z.object({ path: z.string(), size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });

/** manifest.json inside every package; the package's identity is the sha256 of its bytes. */
export const ManifestSchema = z.object({
  version: z.literal(1),
  dataloader: z.string(),
  trainingConfig: z.string().optional(),
  datasets: z.array(z.object({ id: z.string(), archivePrefix: z.string(), files: z.number().int(), bytes: z.number() })),
  files: z.array(ManifestFileSchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const PackageStageSchema = z.enum(['scanning', 'hashing', 'packaging', 'verifying', 'complete']);
export type PackageStage = z.infer<typeof PackageStageSchema>;
export interface PackageProgress { stage: PackageStage; message: string; fraction?: number }

export const PackagedDatasetSchema = z.object({
  id: z.string(),
  /** Absolute local folder the files came from. */
  root: z.string(),
  files: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  /** Folder inside the zip holding this dataset's files (e.g. `datasets/portraits`). */
  archivePrefix: z.string(),
});

export const PackageExclusionSchema = z.object({ dataset: z.string(), relPath: z.string(), reason: z.string() });

/** What buildPackage returns; also stored beside each package as `<sha256>.json`. */
export const PackageResultSchema = z.object({
  zipPath: z.string(),
  /** Package identity: sha256 of its manifest.json (file paths, sizes, hashes, configs). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** True when an identical package already existed and nothing was written. */
  reused: z.boolean(),
  datasets: z.array(PackagedDatasetSchema),
  excluded: z.array(PackageExclusionSchema),
  totalFiles: z.number().int().nonnegative(),
  totalBytes: z.number().nonnegative(),
  zipBytes: z.number().nonnegative(),
  /** The dataloader config exactly as it is inside the zip (paths pointing into the package). */
  rewrittenDataloader: z.unknown(),
  dataloaderConfigPath: z.string(),
  trainingConfigPath: z.string().optional(),
  /** How the zip was checked after writing: `full` re-read every entry, `structure` the central directory and manifest. */
  verified: z.enum(['full', 'structure']),
  createdAt: z.string(),
  durationMs: z.number().nonnegative(),
});
export type PackageResult = z.infer<typeof PackageResultSchema>;
export type PackagedDataset = z.infer<typeof PackagedDatasetSchema>;
export type PackageExclusion = z.infer<typeof PackageExclusionSchema>;

/** A package could not be built; `diagnostics` says where in the configs, when that is the cause. */
export class PackagingError extends Error {
  constructor(message: string, readonly diagnostics: Array<{ file: string; severity: string; message: string; offset: number; length: number; code: string }> = []) {
    super(message);
    this.name = 'PackagingError';
  }
}
