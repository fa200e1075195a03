import path from 'node:path';
import { PATH_FIELDS } from '../config/dataloader-schema';
import { isDisabled } from '../config/simpletuner';

/** Where one dataset's local paths point inside the package. */
export interface DatasetPlacement {
  /** Index of the dataset in the config's list. */
  index: number;
  id: string;
  /** Folder in the zip holding the dataset's files (its `instance_data_dir`). */
  archivePrefix?: string;
  /** Other content paths (csv_file, parquet.path) → their path in the zip. */
  files?: Partial<Record<'csv_file' | 'parquet.path', string>>;
}

const CACHE_SUFFIX: Record<string, string> = {
  cache_dir_vae: 'vae',
  cache_dir: 'cache',
  cache_dir_conditioning_image_embeds: 'conditioning_image_embeds',
  csv_cache_dir: 'csv',
};

export const safeSegment = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_') || '_';

/** Storage whose cache fields are folders on the trainer's disk; elsewhere they are e.g. S3 prefixes (aws) or the Hub cache. */
const LOCAL_STORAGE = new Set(['local', 'csv']);

/**
 * The dataloader config as it must read inside the package: every local path points into the package
 * (relative to `packageRoot`, the folder the trainer extracts it to; '' = relative to the trainer's
 * working directory). Cache folders of local datasets move to `cache/<id>/...` so the trainer never
 * writes to a path that only existed on this machine. Remote datasets (aws, huggingface, …) and
 * disabled ones are kept exactly as written: their `cache_dir*` are not local folders.
 */
export function rewriteDataloader(root: unknown, placements: DatasetPlacement[], packageRoot = ''): unknown {
  const at = (p: string) => (packageRoot ? path.posix.join(packageRoot, p) : p);
  const list = Array.isArray(root) ? root : (root as { datasets: unknown[] }).datasets;
  const byIndex = new Map(placements.map((p) => [p.index, p]));
  const rewritten = list.map((entry, index) => {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) return entry;
    const ds = { ...(entry as Record<string, unknown>) };
    if (isDisabled(ds) || !LOCAL_STORAGE.has(typeof ds.type === 'string' ? ds.type : 'local')) return entry;
    const id = typeof ds.id === 'string' ? ds.id : `dataset-${index + 1}`;
    for (const [field, suffix] of Object.entries(CACHE_SUFFIX)) {
      if (typeof ds[field] === 'string' && ds[field]) ds[field] = at(`cache/${safeSegment(id)}/${suffix}`);
    }
    const place = byIndex.get(index);
    if (place?.archivePrefix) {
      ds.instance_data_dir = at(place.archivePrefix);
      delete ds.instance_data_root; // its older name would point back at this machine's folder
    }
    if (place?.files?.csv_file) ds.csv_file = at(place.files.csv_file);
    if (place?.files?.['parquet.path'] && ds.parquet && typeof ds.parquet === 'object') {
      ds.parquet = { ...(ds.parquet as Record<string, unknown>), path: at(place.files['parquet.path']) };
    }
    return ds;
  });
  return Array.isArray(root) ? rewritten : { ...(root as object), datasets: rewritten };
}

/** Keep the list of path fields in one place: rewrite covers everything the schema calls a path. */
export const REWRITTEN_FIELDS = [...Object.keys(PATH_FIELDS), 'parquet.path'];
