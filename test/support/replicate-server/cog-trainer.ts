import path from 'node:path';
import yauzl from 'yauzl';

/**
 * What SimpleTuner's Cog trainer does with a prediction's inputs, for the stand-in. Followed from
 * bghira/SimpleTuner @ bc8e6ab7 (read, not copied):
 *  - predict.py L129-142: `hf_token`, `config_json`, `dataloader_json` are parsed only when truthy;
 *    a value starting with `{`/`[` is inline JSON, anything else a path that must exist (L38-42).
 *  - predict.py L181-183: `hub_model_id` without `hf_token` raises.
 *  - cog.py L303-306/L437-451: no config → `config/config.json` on disk, which the trainer image has not.
 *  - cog.py L319-323: with a dataloader config it is written as-is; `images` is never looked at.
 *  - cog.py L329-332, L389-425: without one, `images` must be a zip/tar; it is extracted (traversal
 *    refused) into `datasets/cog/<job>` and L453-484 writes one `local` dataset with filename captions.
 *  - the local backend walks the folder (data_backend/local.py list_files, os.walk); a filename
 *    caption is the stem with `_` as space (prompts.py); a missing `instance_data_dir` fails the run.
 */
export interface TrainerImage { path: string; caption: string | string[] }
export interface TrainerDataset { id: string; type: string; images: TrainerImage[] }
export interface TrainerView {
  route: 'archive' | 'dataloader';
  config: Record<string, unknown>;
  datasets: TrainerDataset[];
  maxTrainSteps?: number;
  lycoris?: unknown;
  hubModelId?: string;
}

/** How the stand-in reads a non-local dataset (an `aws` entry, say); tests plug in a real S3 read. */
export type RemoteDatasetReader = (entry: Record<string, unknown>, input: Record<string, unknown>) => Promise<TrainerImage[]>;

export class TrainerFailure extends Error {}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff', '.jxl', '.avif']);
const CACHE_TYPES = new Set(['text_embeds', 'image_embeds', 'conditioning_image_embeds']);

export async function runCogTrainer(input: Record<string, unknown>, job: string, o: {
  fetchFile(url: string): Promise<Buffer | undefined>;
  readRemote?: RemoteDatasetReader;
}): Promise<TrainerView> {
  const truthy = (v: unknown) => v !== undefined && v !== null && v !== '' && v !== false;
  const parse = (v: unknown, name: string): unknown => {
    const text = String(v).trim();
    if (!text.startsWith('{') && !text.startsWith('[')) throw new TrainerFailure(`FileNotFoundError: ${name} file not found: ${text}`);
    try { return JSON.parse(text); } catch (e) { throw new TrainerFailure(`ValueError: ${name} looks like JSON but failed to parse: ${(e as Error).message}`); }
  };
  if (truthy(input.hub_model_id) && !truthy(input.hf_token)) throw new TrainerFailure('ValueError: hf_token is required when using hub_model_id for HuggingFace Hub publishing.');
  if (!truthy(input.config_json)) throw new TrainerFailure('FileNotFoundError: No training config found. Provide a config JSON or create config/config.json.');
  const config = parse(input.config_json, 'config_json') as Record<string, unknown>;
  const lycoris = truthy(input.lycoris_config) ? parse(input.lycoris_config, 'lycoris_config') : undefined;
  const base = { config, maxTrainSteps: typeof input.max_train_steps === 'number' ? input.max_train_steps : undefined, lycoris, hubModelId: truthy(input.hub_model_id) ? String(input.hub_model_id) : undefined };

  if (truthy(input.dataloader_json)) {
    const dl = parse(input.dataloader_json, 'dataloader_json');
    const list = (Array.isArray(dl) ? dl : (dl as { datasets?: unknown[] }).datasets ?? []) as Record<string, unknown>[];
    const datasets: TrainerDataset[] = [];
    for (const d of list) {
      if (d.disabled === true || d.disable === true || CACHE_TYPES.has(String(d.dataset_type ?? 'image'))) continue;
      const type = String(d.type ?? 'local');
      if (type === 'local') {
        // Nothing the dataloader names exists on the trainer's disk: the archive was not unpacked.
        throw new TrainerFailure(`FileNotFoundError: dataset "${String(d.id)}": instance_data_dir ${JSON.stringify(d.instance_data_dir)} does not exist on the trainer`);
      }
      if (!o.readRemote) throw new TrainerFailure(`dataset "${String(d.id)}": the stand-in cannot read type ${type}`);
      const images = await o.readRemote(d, input).catch((e: Error) => { throw new TrainerFailure(`dataset "${String(d.id)}" (${type}): ${e.message}`); });
      if (!images.length) throw new TrainerFailure(`dataset "${String(d.id)}": no images found`);
      datasets.push({ id: String(d.id), type, images });
    }
    return { route: 'dataloader', datasets, ...base };
  }

  if (!truthy(input.images)) throw new TrainerFailure('ValueError: Either dataset_archive or dataloader config must be provided.');
  const bytes = await o.fetchFile(String(input.images));
  if (!bytes) throw new TrainerFailure(`FileNotFoundError: Dataset archive not found: ${String(input.images)}`);
  const entries = await unzip(bytes);
  const images = entries
    .filter((e) => IMAGE_EXT.has(path.posix.extname(e).toLowerCase()))
    .map((e) => ({ path: `datasets/cog/${job}/${e}`, caption: path.posix.basename(e, path.posix.extname(e)).replace(/_/g, ' ') }));
  if (!images.length) throw new TrainerFailure(`ValueError: no images found in datasets/cog/${job}`);
  return { route: 'archive', datasets: [{ id: `${job}-images`, type: 'local', images }], ...base };
}

function unzip(buf: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(new TrainerFailure('ValueError: Unsupported dataset archive format. Use .zip or .tar.'));
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => {
        const norm = path.posix.normalize(e.fileName);
        if (norm.startsWith('../') || path.posix.isAbsolute(norm)) return reject(new TrainerFailure(`ValueError: Unsafe zip path detected: ${e.fileName}`));
        if (!e.fileName.endsWith('/')) names.push(norm);
        zip.readEntry();
      });
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}
