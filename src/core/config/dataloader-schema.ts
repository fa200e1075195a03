import * as z from 'zod';

/** SimpleTuner's backend kinds; only `local` datasets are packaged. */
export const BACKEND_TYPES = ['local', 'aws', 'csv', 'huggingface', 'memory', 'webshart'] as const;
export const DATASET_TYPES = ['image', 'video', 'audio', 'text_embeds', 'image_embeds', 'conditioning_image_embeds', 'conditioning'] as const;
export const CAPTION_STRATEGIES = ['textfile', 'instanceprompt', 'filename', 'parquet', 'huggingface', 'webshart'] as const;

/** Fields that link one dataset to another by `id`, and the dataset_type the target must have. */
export const LINK_FIELDS = {
  text_embeds: 'text_embeds',
  image_embeds: 'image_embeds',
  conditioning_image_embeds: 'conditioning_image_embeds',
  conditioning_data: undefined,
  source_dataset_id: undefined,
} as const satisfies Record<string, (typeof DATASET_TYPES)[number] | undefined>;

/**
 * Fields holding a local path. `content` paths are packaged (their files travel); `cache` paths are
 * where the trainer writes, so in a package they are only rewritten to a folder inside it.
 */
export const PATH_FIELDS = {
  instance_data_dir: 'content',
  csv_file: 'content',
  cache_dir_vae: 'cache',
  cache_dir: 'cache',
  cache_dir_conditioning_image_embeds: 'cache',
  csv_cache_dir: 'cache',
} as const;
export type PathField = keyof typeof PATH_FIELDS | 'parquet.path';

/** Keys whose value is a credential; they must come from the environment, never the file. */
export const CREDENTIAL_KEY = /(^|_)(secret|password|passwd|token|api_key|access_key_id|session_token)($|_)/i;

const enumMessage = (field: string, values: readonly string[]) => ({
  error: (iss: { input?: unknown }) => `Unknown ${field} ${JSON.stringify(iss.input)}: use one of ${values.join(', ')}.`,
});

const num = z.number();
const optStr = z.string().nullable().optional();

/**
 * One dataset entry. Unknown fields are kept (looseObject): SimpleTuner grows options faster than any
 * schema, and the rewritten config must carry them through untouched.
 */
export const DatasetEntrySchema = z.looseObject({
  id: z.string({ error: 'Every dataset needs a string "id".' }).min(1, 'The "id" must not be empty.'),
  disabled: z.boolean().optional(),
  type: z.enum(BACKEND_TYPES, enumMessage('type', BACKEND_TYPES)).optional(),
  dataset_type: z.enum(DATASET_TYPES, enumMessage('dataset_type', DATASET_TYPES)).optional(),
  default: z.boolean().optional(),
  text_embeds: optStr,
  image_embeds: optStr,
  conditioning_image_embeds: optStr,
  conditioning_data: z.union([z.string(), z.array(z.string())]).nullable().optional(),
  source_dataset_id: optStr,
  caption_strategy: z.enum(CAPTION_STRATEGIES, enumMessage('caption_strategy', CAPTION_STRATEGIES)).optional(),
  instance_prompt: optStr,
  only_instance_prompt: z.boolean().optional(),
  resolution: num.positive().optional(),
  resolution_type: z.enum(['pixel', 'area', 'pixel_area'], enumMessage('resolution_type', ['pixel', 'area', 'pixel_area'])).optional(),
  crop: z.boolean().optional(),
  crop_style: z.enum(['center', 'centre', 'corner', 'random', 'face'], enumMessage('crop_style', ['center', 'corner', 'random', 'face'])).optional(),
  crop_aspect: z.enum(['square', 'preserve', 'random', 'closest'], enumMessage('crop_aspect', ['square', 'preserve', 'random', 'closest'])).optional(),
  crop_aspect_buckets: z.array(z.union([num, z.record(z.string(), num)])).optional(),
  minimum_image_size: num.nonnegative().optional(),
  maximum_image_size: num.nonnegative().optional(),
  target_downsample_size: num.nonnegative().optional(),
  repeats: z.number().int('"repeats" must be a whole number.').nonnegative().optional(),
  probability: num.nonnegative().optional(),
  instance_data_dir: optStr,
  cache_dir_vae: optStr,
  cache_dir: optStr,
  cache_dir_conditioning_image_embeds: optStr,
  csv_file: optStr,
  csv_cache_dir: optStr,
  parquet: z.looseObject({ path: z.string().optional() }).optional(),
  aws_bucket_name: optStr,
  aws_region_name: optStr,
  aws_endpoint_url: optStr,
  aws_data_prefix: optStr,
  aws_access_key_id: optStr,
  aws_secret_access_key: optStr,
});
export type DatasetEntry = z.infer<typeof DatasetEntrySchema>;

/** The file itself: a list of datasets, or an object holding that list under "datasets". */
export const DataloaderFileSchema = z.union([z.array(z.unknown()), z.looseObject({ datasets: z.array(z.unknown()) })]);

/** The dataset's effective kind: SimpleTuner treats a missing `type` as local, a missing `dataset_type` as image. */
export const backendType = (d: Partial<DatasetEntry>): string => d.type ?? 'local';
export const datasetType = (d: Partial<DatasetEntry>): string => d.dataset_type ?? 'image';
