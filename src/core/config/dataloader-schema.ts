import * as z from 'zod';

export { BACKEND_TYPES, CAPTION_STRATEGIES, DATASET_TYPES } from './simpletuner';
export { CREDENTIAL_KEY } from './rules/dataset-rules';

/**
 * Fields holding a local path. `content` paths are packaged (their files travel); `cache` paths are
 * where the trainer writes, so in a package they are only rewritten to a folder inside it.
 * `instance_data_root` is SimpleTuner's older name for instance_data_dir (factory.py _configure_backend_by_type).
 */
export const PATH_FIELDS = {
  instance_data_dir: 'content',
  instance_data_root: 'content',
  csv_file: 'content',
  cache_dir_vae: 'cache',
  cache_dir: 'cache',
  cache_dir_conditioning_image_embeds: 'cache',
  csv_cache_dir: 'cache',
} as const;
export type PathField = keyof typeof PATH_FIELDS | 'parquet.path';

/**
 * One dataset entry. Deliberately loose: the rules in rules/ judge the values exactly as SimpleTuner
 * does; this only types the fields other modules read, and keeps every unknown field (the rewritten
 * config must carry them through untouched).
 */
export const DatasetEntrySchema = z.looseObject({
  id: z.string(),
  type: z.string().optional(),
  dataset_type: z.string().nullable().optional(),
  instance_data_dir: z.string().nullable().optional(),
  parquet: z.looseObject({ path: z.string().optional() }).nullable().optional(),
});
export type DatasetEntry = z.infer<typeof DatasetEntrySchema>;

/** The dataset's effective kind: a missing `type` is read as local here (it is reported separately), a missing `dataset_type` as image. */
export const backendType = (d: { type?: unknown }): string => (typeof d.type === 'string' ? d.type : 'local');
export const datasetType = (d: { dataset_type?: unknown }): string => (typeof d.dataset_type === 'string' ? d.dataset_type.trim().toLowerCase() : 'image');
