import path from 'node:path';
import * as z from 'zod';

/**
 * Which way SimpleTuner's Replicate trainer can get a submission's data. Facts from SimpleTuner
 * (bghira/SimpleTuner @ bc8e6ab7, read, not copied):
 *  - `predict.py` passes `dataloader_json` to `SimpleTunerCogRunner.run` whenever it is non-empty
 *    (predict.py L141-142); `cog.py` L319-323 then writes that config as-is and never unpacks `images`.
 *    Only without a dataloader does it extract the archive into `datasets/cog/<job>` (L329-331) and
 *    write a one-dataset config (L453-484): `type: local`, `caption_strategy: filename`, `crop: true`,
 *    `crop_style: center`, the training config's `--resolution`/`--resolution_type`, its own VAE cache.
 *  - the local backend walks the folder recursively (helpers/data_backend/local.py `list_files`,
 *    os.walk), and the filename caption is `Path(image).stem` with `_` read as a space
 *    (helpers/prompts.py `prepare_instance_prompt_from_filename`).
 *  - a textfile caption is the sibling `.txt`; more than one non-empty line means several captions
 *    (prompts.py `prepare_instance_prompt_from_textfile`).
 *  - no text-embed dataset in the config: the factory adds a default one (data_backend/factory.py,
 *    "No text_embeds dataset provided; generating default text embed backend").
 * So the archive route can carry exactly one local image dataset whose captions survive as file names.
 */

const S3RequestSchema = z.object({
  kind: z.literal('s3'),
  bucket: z.string().min(1),
  prefix: z.string().default(''),
  /** S3-compatible endpoint (R2, B2, MinIO, this machine's endpoint when exposed); AWS when absent. */
  endpoint: z.string().url().optional(),
  region: z.string().optional(),
  /** Access key id of a configured key (secret in SecretStorage); absent = mint per-job keys on the built-in endpoint. */
  accessKeyId: z.string().optional(),
  /** With your own service: a read-only key (secret in SecretStorage) the trainer reads with; the write key stays here. */
  readAccessKeyId: z.string().optional(),
});
const HfRequestSchema = z.object({ kind: z.literal('hf'), repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'expected "owner/dataset"') });

/** Where the user wants the trainer to read the data from (`--data`, the Submit picker). */
export const DataRequestSchema = z.discriminatedUnion('kind', [
  /**
   * Archive when the dataloader allows it, else the configured remote location (`fallback`: the CLI's
   * `--data-fallback`, the editor's last bucket/repo) when there is one, else refuse.
   */
  z.object({ kind: z.literal('auto'), fallback: z.discriminatedUnion('kind', [S3RequestSchema, HfRequestSchema]).optional() }),
  z.object({ kind: z.literal('archive') }),
  S3RequestSchema,
  HfRequestSchema,
]);
export type DataRequest = z.infer<typeof DataRequestSchema>;

/** `archive` | `s3://bucket/prefix` | `hf:owner/dataset` | `auto` → a DataRequest (CLI `--data`). */
export function parseDataFlag(value: string): DataRequest {
  const v = value.trim();
  if (v === 'auto') return { kind: 'auto' };
  if (v === 'archive') return { kind: 'archive' };
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(v);
  if (s3) return { kind: 's3', bucket: s3[1]!, prefix: (s3[2] ?? '').replace(/\/+$/, '') };
  const hf = /^hf:([\w.-]+\/[\w.-]+)$/.exec(v);
  if (hf) return { kind: 'hf', repo: hf[1]! };
  throw new Error(`--data expects archive, auto, s3://bucket/prefix or hf:owner/dataset, got "${value}"`);
}

/** Replicate's Files API limit, as SimpleTuner documents it (documentation/experimental/cloud/REPLICATE.md, "Upload limit"). */
export const REPLICATE_UPLOAD_LIMIT_BYTES = 100 * 1024 * 1024;

/** Image types SimpleTuner's image datasets read (the common ones; anything else is not sent). */
const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff', '.jxl', '.avif']);
export const isImage = (name: string): boolean => IMAGE_EXT.has(path.posix.extname(name).toLowerCase());

/** Dataset types that only hold caches the trainer builds itself. */
const CACHE_TYPES = new Set(['text_embeds', 'image_embeds', 'conditioning_image_embeds']);
/** Keys of the image dataset the runner's own config covers (or that only name caches). */
const NEUTRAL_KEYS = new Set(['id', 'type', 'dataset_type', 'instance_data_dir', 'caption_strategy', 'cache_dir_vae', 'resolution', 'resolution_type', 'crop', 'crop_style', 'repeats', 'instance_prompt', 'disabled', 'disable', 'default']);

export interface PackageIndex {
  /** Every entry of the package zip and its size. */
  sizes: Map<string, number>;
  /** Caption text files of the image dataset (read on demand by the caller). */
  texts: Map<string, string>;
}

export interface ArchiveFile { from: string; to: string; size: number; caption: string }
export type ArchivePlan =
  | { ok: true; datasetId: string; prefix: string; files: ArchiveFile[]; changes: string[]; bytes: number; captionSource: string }
  | { ok: false; reasons: string[] };

export type DataloaderEntry = Record<string, unknown>;

export function datasetsOf(dataloader: unknown): DataloaderEntry[] {
  const list = Array.isArray(dataloader) ? dataloader : (dataloader as { datasets?: unknown } | undefined)?.datasets;
  return Array.isArray(list) ? list.filter((d): d is DataloaderEntry => !!d && typeof d === 'object') : [];
}

const enabled = (d: DataloaderEntry) => d.disabled !== true && d.disable !== true;
const datasetType = (d: DataloaderEntry) => String(d.dataset_type ?? 'image');
/** True when SimpleTuner reads the entry from somewhere other than a local folder (tiny helper, see brief: config module untouched). */
export const isRemoteEntry = (d: DataloaderEntry): boolean => d.type !== undefined && d.type !== 'local';

/** The image dataset the archive route would carry, or why there is none. */
export function imageDatasets(dataloader: unknown): DataloaderEntry[] {
  return datasetsOf(dataloader).filter((d) => enabled(d) && !CACHE_TYPES.has(datasetType(d)));
}

/** The prefix (inside the package) of the files a packaged local dataset holds. */
export function packagePrefix(d: DataloaderEntry): string | undefined {
  const dir = typeof d.instance_data_dir === 'string' ? d.instance_data_dir : undefined;
  return dir ? dir.replace(/\\/g, '/').replace(/^\.\//, '').replace(/\/+$/, '') : undefined;
}

/**
 * Can the dataloader (as packaged: paths point into the package) be expressed as the runner's
 * auto-generated one-dataset config? If so: the files to put in the archive (images only, renamed so
 * their file names carry their captions) and every difference the trainer will make, in words.
 */
export function planArchive(dataloader: unknown, training: Record<string, unknown>, index: PackageIndex, limitBytes = REPLICATE_UPLOAD_LIMIT_BYTES): ArchivePlan {
  const reasons: string[] = [];
  const images = imageDatasets(dataloader);
  if (images.length === 0) return { ok: false, reasons: ['The dataloader config has no enabled image dataset.'] };
  if (images.length > 1) reasons.push(`The archive route carries one image dataset; this config has ${images.length} (${images.map((d) => String(d.id)).join(', ')}).`);
  for (const d of images) {
    const t = datasetType(d);
    if (t !== 'image') reasons.push(`Dataset "${String(d.id)}" is a ${t} dataset; the trainer's archive route only makes an image dataset.`);
    if (isRemoteEntry(d)) reasons.push(`Dataset "${String(d.id)}" is of type "${String(d.type)}"; the archive route only carries local folders.`);
    if (d.conditioning_data !== undefined || d.conditioning !== undefined) reasons.push(`Dataset "${String(d.id)}" uses conditioning data, which the archive route cannot express.`);
  }
  if (reasons.length) return { ok: false, reasons };
  const d = images[0]!;
  const id = String(d.id ?? 'images');
  const prefix = packagePrefix(d);
  if (!prefix) return { ok: false, reasons: [`Dataset "${id}" has no instance_data_dir.`] };
  const strategy = String(d.caption_strategy ?? 'filename');
  const files = [...index.sizes.entries()].filter(([name]) => name.startsWith(`${prefix}/`) && isImage(name)).sort(([a], [b]) => a.localeCompare(b));
  if (files.length === 0) return { ok: false, reasons: [`Dataset "${id}" has no images in the package.`] };

  const out: ArchiveFile[] = [];
  const taken = new Set<string>();
  const place = (dir: string, base: string): string => {
    // Same caption twice in one folder: the second goes one folder down (the runner walks folders; the stem stays the caption).
    let to = dir ? `${dir}/${base}` : base;
    for (let n = 2; taken.has(to); n++) to = dir ? `${dir}/${n}/${base}` : `${n}/${base}`;
    taken.add(to);
    return to;
  };
  for (const [name, size] of files) {
    const rel = name.slice(prefix.length + 1);
    const dir = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
    const ext = path.posix.extname(rel);
    let caption: string;
    if (strategy === 'filename') {
      caption = path.posix.basename(rel, ext).replace(/_/g, ' ');
      out.push({ from: name, to: place(dir, path.posix.basename(rel)), size, caption });
      continue;
    } else if (strategy === 'textfile') {
      const txt = index.texts.get(`${name.slice(0, name.length - ext.length)}.txt`);
      if (txt === undefined) { reasons.push(`${rel} has no caption file (${path.posix.basename(rel, ext)}.txt).`); continue; }
      const lines = txt.split('\n').filter((l) => l !== '');
      if (lines.length !== 1) { reasons.push(`${rel}: its caption file holds ${lines.length === 0 ? 'no caption' : `${lines.length} captions (one per line)`}; a file name holds exactly one.`); continue; }
      caption = lines[0]!;
    } else if (strategy === 'instanceprompt') {
      const p = d.instance_prompt;
      if (typeof p !== 'string' || !p.trim()) return { ok: false, reasons: [`Dataset "${id}" uses caption_strategy instanceprompt without one instance_prompt.`] };
      caption = p.trim();
    } else {
      return { ok: false, reasons: [`Dataset "${id}" takes its captions from "${strategy}", which cannot become file names.`] };
    }
    const bad = unsafeCaption(caption, ext);
    if (bad) { reasons.push(`${rel}: the caption ${JSON.stringify(caption.length > 60 ? `${caption.slice(0, 60)}…` : caption)} ${bad}.`); continue; }
    out.push({ from: name, to: place(dir, `${caption}${ext}`), size, caption });
  }
  if (reasons.length) return { ok: false, reasons: reasons.length > 5 ? [...reasons.slice(0, 5), `… and ${reasons.length - 5} more.`] : reasons };

  const bytes = estimateZipBytes(out);
  if (bytes > limitBytes) {
    return { ok: false, reasons: [`The archive would be about ${(bytes / 1048576).toFixed(1)} MiB; Replicate's Files API accepts up to ${limitBytes / 1048576} MiB.`] };
  }
  return { ok: true, datasetId: id, prefix, files: out, changes: archiveChanges(d, training, strategy), bytes, captionSource: strategy };
}

/** Why a caption cannot be a file name the runner reads back unchanged, or undefined when it can. */
function unsafeCaption(caption: string, ext: string): string | undefined {
  if (!caption.trim()) return 'is empty';
  if (caption.includes('/')) return 'contains "/" (a folder separator)';
  if (caption.includes('_')) return 'contains "_", which the trainer reads back as a space';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(caption)) return 'contains control characters';
  if (caption.startsWith('.')) return 'starts with "." (a hidden file)';
  if (Buffer.byteLength(caption + ext, 'utf8') > 255) return 'is longer than a file name may be (255 bytes)';
  return undefined;
}

/** What the runner's generated config (cog.py L465-479) does differently from the user's entry. */
function archiveChanges(d: DataloaderEntry, training: Record<string, unknown>, strategy: string): string[] {
  const changes: string[] = [];
  const cfg = (k: string) => training[`--${k}`] ?? training[k];
  if (strategy === 'textfile') changes.push('captions: each image is renamed to its caption (the .txt files are not sent)');
  if (strategy === 'instanceprompt') changes.push(`captions: every image is named "${String(d.instance_prompt)}" (its instance prompt)`);
  if (d.repeats !== undefined && Number(d.repeats) !== 0) changes.push(`repeats: ${JSON.stringify(d.repeats)} will not apply (each image is seen once per epoch)`);
  if (d.crop !== true || (d.crop_style !== undefined && d.crop_style !== 'center')) {
    changes.push(`crop: ${d.crop === true ? `crop_style ${JSON.stringify(d.crop_style)}` : 'off'} → centre crop (the trainer always centre-crops)`);
  }
  for (const k of ['resolution', 'resolution_type'] as const) {
    if (d[k] !== undefined && JSON.stringify(d[k]) !== JSON.stringify(cfg(k))) {
      changes.push(`${k}: ${JSON.stringify(d[k])} → ${cfg(k) === undefined ? 'SimpleTuner\'s default' : JSON.stringify(cfg(k))} (the training config's)`);
    }
  }
  for (const [k, v] of Object.entries(d)) if (!NEUTRAL_KEYS.has(k)) changes.push(`${k}: ${JSON.stringify(v)} will not apply`);
  return changes;
}

/** Stored entries: data + local header (30 + name) + central directory (46 + name) + the end record. */
function estimateZipBytes(files: ArchiveFile[]): number {
  return files.reduce((n, f) => n + f.size + 76 + 2 * Buffer.byteLength(f.to, 'utf8') + 16, 22);
}
