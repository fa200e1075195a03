import {
  BACKEND_TYPES, CAPTION_STRATEGIES, CROP_ASPECTS, CROP_STYLES, DATA_TYPES, DATASET_TYPES, EMBED_BACKENDS, MEDIA_TYPES,
  METADATA_BACKENDS, RESOLUTION_TYPES, truthy,
} from '../simpletuner';
import { referencesEnv } from '../template-vars';
import { dataset, isBlank, q, type DatasetView, type Finding, type RuleContext } from './types';

// Each rule's `mirrors` is its one-line statement of the SimpleTuner check it follows (file and function,
// paths under simpletuner/helpers/, as of commit bc8e6ab: SIMPLETUNER_CHECKED); the README table is built from it.
// Every rule here runs on enabled datasets only: SimpleTuner drops disabled ones before any check
// (data_backend/factory.py sort_dataset_configs_by_dependencies).

const has = (o: Record<string, unknown>, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => isNumber(v) && Number.isInteger(v);
const numeric = (v: unknown): number | undefined => (isNumber(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
const isMedia = (ds: DatasetView): boolean => ds.datasetType !== undefined && MEDIA_TYPES.has(ds.datasetType);
const isData = (ds: DatasetView): boolean => ds.datasetType !== undefined && DATA_TYPES.has(ds.datasetType);

/**
 * A dataset option, else the training config's option of the same name (`backend.get(k, args.k)`).
 * `known` is false when neither says and the training config is not available here.
 */
function option(ds: DatasetView, ctx: RuleContext, key: string): { value: unknown; known: boolean } {
  if (has(ds.raw, key) && ds.raw[key] !== null) return { value: ds.raw[key], known: true };
  if (ctx.training) return { value: ctx.training[key], known: true };
  return { value: undefined, known: false };
}

/** caption_strategy as SimpleTuner resolves it: the dataset's, null/missing = the global one (default filename). */
function captionStrategy(ds: DatasetView, ctx: RuleContext): { value?: string; known: boolean; fromDataset: boolean } {
  const own = ds.raw.caption_strategy;
  if (typeof own === 'string') return { value: own, known: true, fromDataset: true };
  // type: huggingface / webshart default their own strategy (data_backend/factory.py init_backend_config).
  if (ds.backendType === 'huggingface' || ds.backendType === 'webshart') return { value: ds.backendType, known: true, fromDataset: false };
  if (ctx.training) {
    const g = ctx.training.caption_strategy;
    return { value: typeof g === 'string' && g ? g : 'filename', known: true, fromDataset: false };
  }
  return { known: false, fromDataset: false };
}

export const missingId = dataset({
  code: 'missing-id', severity: 'error', summary: 'every enabled dataset has a non-empty string "id"',
  mirrors: 'data_backend/config/validators.py validate_backend_id; data_backend/factory.py FactoryRegistry._prevalidate_backend_ids',
}, (ds) => (typeof ds.raw.id === 'string' && ds.raw.id.trim() ? [] : [{ index: ds.index, at: ['id'], message: 'Every dataset needs a non-empty string "id" (SimpleTuner refuses the config without one).' }]));

export const backendType = dataset({
  code: 'backend-type', severity: 'error', summary: '"type" is present and one of the storage kinds SimpleTuner has a builder for',
  mirrors: 'data_backend/builders/__init__.py create_backend_builder; data_backend/factory.py FactoryRegistry._configure_backend_by_type (reads backend["type"])',
}, (ds) => {
  const t = ds.raw.type;
  // Caption datasets are built from their config object, whose type defaults to local (data_backend/config/image.py from_dict).
  if (t === undefined) {
    return ds.datasetType === 'caption' ? [] : [{ index: ds.index, at: ['id'], message: `Dataset${ds.id ? ` "${ds.id}"` : ''} has no "type": SimpleTuner reads backend["type"] without a default and stops. Add "type": "local" (or aws, csv, huggingface, memory, webshart).` }];
  }
  if (typeof t !== 'string' || !(BACKEND_TYPES as readonly string[]).includes(t)) {
    return [{ index: ds.index, at: ['type'], message: `Unknown type ${q(t)}: SimpleTuner supports ${BACKEND_TYPES.join(', ')}.` }];
  }
  return [];
});

export const datasetTypeKnown = dataset({
  code: 'dataset-type', severity: 'error', summary: '"dataset_type" is one of SimpleTuner\'s DatasetType values (null/missing = image)',
  mirrors: 'data_backend/dataset_types.py DatasetType.from_value',
}, (ds) => (ds.datasetType === undefined
  ? [{ index: ds.index, at: ['dataset_type'], message: `Unknown dataset_type ${q(ds.raw.dataset_type)}: SimpleTuner supports ${DATASET_TYPES.join(', ')} (null or missing means image).` }]
  : []));

export const embedStorage = dataset({
  code: 'embed-backend-type', severity: 'error', summary: 'each dataset kind uses storage SimpleTuner can build it on (text/image embeds: local, memory, aws; conditioning image embeds: local, aws; captions: not csv; image/video/audio/conditioning/eval: not memory)',
  mirrors: 'data_backend/factory.py FactoryRegistry.configure_text_embed_backends / configure_image_embed_backends / configure_conditioning_image_embed_backends / _configure_backend_by_type; data_backend/config/image.py ImageBackendConfig.validate',
}, (ds) => {
  const allowed = ds.datasetType ? EMBED_BACKENDS[ds.datasetType] : undefined;
  if (typeof ds.raw.type !== 'string' || !(BACKEND_TYPES as readonly string[]).includes(ds.raw.type)) return [];
  if (allowed && !allowed.includes(ds.backendType)) {
    return [{ index: ds.index, at: ['type'], message: `A ${ds.datasetType} dataset cannot use type "${ds.backendType}": SimpleTuner stores it only on ${allowed.join(', ')}.` }];
  }
  if (ds.datasetType === 'caption' && ds.backendType === 'csv') return [{ index: ds.index, at: ['type'], message: 'Caption datasets cannot use the csv backend (it carries no caption text): use local, aws, parquet or huggingface storage.' }];
  // _configure_backend_by_type builds data sets from local, aws, csv, huggingface and webshart storage only.
  if (ds.backendType === 'memory' && isData(ds) && ds.datasetType !== 'caption') return [{ index: ds.index, at: ['type'], message: `A ${ds.datasetType} dataset cannot use type "memory": SimpleTuner keeps only embed caches in memory. Use local, aws, csv, huggingface or webshart.` }];
  return [];
});

export const captionStrategyKnown = dataset({
  code: 'caption-strategy', severity: 'error', summary: '"caption_strategy" is one SimpleTuner knows (null/missing = the training config\'s)',
  mirrors: 'prompts.py PromptHandler.magic_prompt / get_all_captions',
}, (ds) => {
  const v = ds.raw.caption_strategy;
  if (v === undefined || v === null || (typeof v === 'string' && (CAPTION_STRATEGIES as readonly string[]).includes(v))) return [];
  return [{ index: ds.index, at: ['caption_strategy'], message: `Unknown caption_strategy ${q(v)}: SimpleTuner supports ${CAPTION_STRATEGIES.join(', ')} (null or missing uses the training config's --caption_strategy).` }];
});

export const captionStrategyBackend = dataset({
  code: 'caption-strategy-backend', severity: 'error', summary: 'the caption strategy fits the storage: huggingface/webshart only on their own type, those types only with their own strategy or instanceprompt, csv needs "csv", parquet needs metadata_backend "parquet"',
  mirrors: 'data_backend/factory.py init_backend_config; data_backend/config/validators.py validate_caption_strategy_compatibility; data_backend/builders/csv.py CsvBackendBuilder._validate_csv_config',
}, (ds, ctx) => {
  if (!isMedia(ds)) return [];
  const cs = captionStrategy(ds, ctx);
  const at = cs.fromDataset ? ['caption_strategy'] : ['type'];
  const out: Finding[] = [];
  const t = ds.backendType;
  if ((cs.value === 'huggingface' || cs.value === 'webshart') && t !== cs.value) {
    out.push({ index: ds.index, at, message: `caption_strategy "${cs.value}" can only be used with "type": "${cs.value}" (this dataset is ${t}).` });
  } else if ((t === 'huggingface' || t === 'webshart') && cs.fromDataset && cs.value !== t && cs.value !== 'instanceprompt') {
    out.push({ index: ds.index, at, message: `A ${t} dataset reads its captions with caption_strategy "${t}" or "instanceprompt", not ${q(cs.value)}.` });
  }
  if (t === 'csv' && cs.value !== 'csv') {
    out.push(cs.known
      ? { index: ds.index, at, message: `A csv dataset needs "caption_strategy": "csv"${cs.fromDataset ? '' : ` (without one it uses the training config's ${q(cs.value)})`}.` }
      : { index: ds.index, at, severity: 'warning', message: 'A csv dataset needs caption_strategy "csv"; this one uses the training config\'s --caption_strategy (default filename), which SimpleTuner refuses unless it is csv. Set "caption_strategy": "csv".' });
  }
  if (cs.value === 'parquet') {
    const mb = ds.raw.metadata_backend;
    if (isBlank(mb) || mb === 'json' || mb === 'discovery' || mb === 'filesystem') {
      out.push({ index: ds.index, at: has(ds.raw, 'metadata_backend') ? ['metadata_backend'] : at, message: `caption_strategy "parquet" needs "metadata_backend": "parquet" (and a "parquet" block); SimpleTuner refuses it with metadata_backend ${q(isBlank(mb) ? 'discovery' : mb)}.` });
    }
  }
  return out;
});

export const metadataBackend = dataset({
  code: 'metadata-backend', severity: 'error', summary: '"metadata_backend" is known, matches huggingface/webshart storage, and parquet metadata or captions come with a "parquet" block holding a "path" ("filesystem" is deprecated: warning)',
  mirrors: 'data_backend/factory.py FactoryRegistry._configure_metadata_backend / configure_parquet_database; data_backend/factory.py init_backend_config',
}, (ds) => {
  if (!isMedia(ds)) return [];
  const mb = ds.raw.metadata_backend;
  const out: Finding[] = [];
  if (!isBlank(mb) && (typeof mb !== 'string' || !(METADATA_BACKENDS as readonly string[]).includes(mb))) {
    return [{ index: ds.index, at: ['metadata_backend'], message: `Unknown metadata_backend ${q(mb)}: SimpleTuner supports ${METADATA_BACKENDS.filter((m) => m !== 'filesystem').join(', ')}.` }];
  }
  if (mb === 'filesystem') out.push({ index: ds.index, at: ['metadata_backend'], severity: 'warning', message: 'metadata_backend "filesystem" is deprecated; SimpleTuner uses "discovery" instead.' });
  for (const t of ['huggingface', 'webshart'] as const) {
    if (ds.backendType === t && !isBlank(mb) && mb !== t) out.push({ index: ds.index, at: ['metadata_backend'], message: `A ${t} dataset must use "metadata_backend": "${t}" (or leave it out).` });
  }
  if (mb === 'parquet' && !truthy(ds.raw.parquet)) out.push({ index: ds.index, at: ['metadata_backend'], message: 'metadata_backend "parquet" needs a "parquet" block (path, filename_column, caption_column, …).' });
  else if ((mb === 'parquet' || ds.raw.caption_strategy === 'parquet') && ds.raw.parquet && typeof ds.raw.parquet === 'object' && isBlank((ds.raw.parquet as Record<string, unknown>).path)) {
    // factory.py configure_parquet_database: "Parquet backend must have a 'path' field … under the 'parquet' key".
    out.push({ index: ds.index, at: ['parquet'], message: 'The "parquet" block needs a "path" to the parquet (or JSON Lines) file.' });
  }
  return out;
});

export const instancePrompt = dataset({
  code: 'instance-prompt', severity: 'error', summary: 'caption_strategy "instanceprompt", "prepend_instance_prompt" and "only_instance_prompt" come with an instance_prompt (the dataset\'s or the training config\'s; a warning when the training config is not known)',
  mirrors: 'data_backend/factory.py FactoryRegistry._create_dataset_and_sampler; prompts.py PromptHandler.magic_prompt',
}, (ds, ctx) => {
  if (!isData(ds) || ds.datasetType === 'caption') return [];
  const cs = captionStrategy(ds, ctx);
  const needs = cs.value === 'instanceprompt' ? 'caption_strategy "instanceprompt"'
    : truthy(option(ds, ctx, 'prepend_instance_prompt').value) ? '"prepend_instance_prompt"'
    : truthy(ds.raw.only_instance_prompt) ? '"only_instance_prompt"' : undefined;
  if (!needs) return [];
  const ip = option(ds, ctx, 'instance_prompt');
  if (typeof ip.value === 'string' && ip.value.trim()) return [];
  if (Array.isArray(ip.value) && ip.value.some((p) => typeof p === 'string' && p.trim())) return [];
  const at = has(ds.raw, 'caption_strategy') && cs.value === 'instanceprompt' ? ['caption_strategy'] : has(ds.raw, 'prepend_instance_prompt') ? ['prepend_instance_prompt'] : has(ds.raw, 'only_instance_prompt') ? ['only_instance_prompt'] : ['id'];
  return [ip.known
    ? { index: ds.index, at, message: `${needs} needs an "instance_prompt" on this dataset or --instance_prompt in the training config; SimpleTuner refuses the dataset without one.` }
    : { index: ds.index, at, severity: 'warning', message: `${needs} needs an "instance_prompt": add one here unless the training config sets --instance_prompt.` }];
});

export const instanceDataDir = dataset({
  code: 'missing-instance-data-dir', severity: 'error', summary: 'a local image/video/audio/conditioning/eval dataset names its folder ("instance_data_dir", or its alias "instance_data_root")',
  mirrors: 'data_backend/factory.py FactoryRegistry._configure_backend_by_type',
}, (ds) => {
  if (ds.backendType !== 'local' || !isData(ds) || ds.datasetType === 'caption') return [];
  const v = has(ds.raw, 'instance_data_dir') ? ds.raw.instance_data_dir : ds.raw.instance_data_root;
  if (v !== undefined && v !== null && String(v).trim()) return [];
  return [{ index: ds.index, at: has(ds.raw, 'instance_data_dir') ? ['instance_data_dir'] : ['id'], message: `Local ${ds.datasetType} dataset${ds.id ? ` "${ds.id}"` : ''} has no "instance_data_dir": add the folder that holds its files.` }];
});

/** Required settings of each remote storage kind, where SimpleTuner reads them. */
function required(ds: DatasetView, keys: string[], blocks: string[] = []): string[] {
  return keys.filter((k) => {
    const inBlock = blocks.some((b) => { const blk = ds.raw[b]; return blk && typeof blk === 'object' && !isBlank((blk as Record<string, unknown>)[k]); });
    return isBlank(ds.raw[k]) && !inBlock;
  });
}

export const remoteRequired = dataset({
  code: 'remote-required', severity: 'error', summary: 'each remote storage kind has the settings its builder requires: aws (aws_bucket_name, aws_endpoint_url, aws_access_key_id, aws_secret_access_key), csv (csv_file, csv_cache_dir, csv_caption_column), huggingface (dataset_name), webshart (source); `{env:VAR}` values count',
  mirrors: 'data_backend/builders/aws.py AwsBackendBuilder._validate_aws_config; data_backend/builders/csv.py _validate_csv_config; data_backend/builders/huggingface.py _validate_huggingface_config; data_backend/factory.py init_backend_config (webshart source)',
}, (ds) => {
  let missing: string[] = [];
  if (ds.backendType === 'aws') missing = required(ds, ['aws_bucket_name', 'aws_endpoint_url', 'aws_access_key_id', 'aws_secret_access_key'], ds.datasetType === 'text_embeds' ? ['aws'] : []);
  else if (ds.backendType === 'csv' && isMedia(ds)) missing = required(ds, ['csv_file', 'csv_cache_dir', 'csv_caption_column']);
  else if (ds.backendType === 'huggingface' && isMedia(ds)) missing = required(ds, ['dataset_name'], ['huggingface']);
  else if (ds.backendType === 'webshart' && isMedia(ds)) missing = required(ds, ['source'], ['webshart']);
  if (!missing.length) return [];
  return [{ index: ds.index, at: ['type'], message: `A ${ds.backendType} dataset needs ${missing.map((m) => `"${m}"`).join(', ')}; SimpleTuner refuses it without ${missing.length > 1 ? 'them' : 'it'}.${ds.backendType === 'aws' ? ' Keep secrets out of the file with "{env:AWS_SECRET_ACCESS_KEY}".' : ''}` }];
});

/** `pixel_area` sizes above 10 are pixel edges, converted to megapixels (data_backend/config/image.py _convert_pixel_area_resolution). */
const toArea = (v: number): number => (v > 10 ? (v * v) / 1_000_000 : v);

export const imageSizes = dataset({
  code: 'image-size', severity: 'error', summary: 'maximum_image_size comes with target_downsample_size; with resolution_type "area" both are under 20 (megapixels), with "pixel" at least 512; pixel_area needs a whole-number resolution',
  mirrors: 'data_backend/factory.py init_backend_config; data_backend/factory.py FactoryRegistry._handle_resolution_conversion',
}, (ds, ctx) => {
  if (!isMedia(ds) || ds.datasetType === 'audio') return [];
  const out: Finding[] = [];
  const rt = option(ds, ctx, 'resolution_type').value;
  const max = numeric(option(ds, ctx, 'maximum_image_size').value);
  const target = numeric(option(ds, ctx, 'target_downsample_size').value);
  if (max && !target) out.push({ index: ds.index, at: ['maximum_image_size'], message: '"maximum_image_size" needs a "target_downsample_size" too (SimpleTuner refuses one without the other).' });
  const modelType = String(ctx.training?.model_type ?? '') + String(ctx.training?.model_family ?? '');
  const area = rt === 'area' || rt === 'pixel_area';
  for (const [field, v] of [['maximum_image_size', max], ['target_downsample_size', target]] as const) {
    if (!v) continue;
    const val = rt === 'pixel_area' ? toArea(v) : v;
    if (area && val >= 20) out.push({ index: ds.index, at: [field], message: `"${field}" is ${v}: with resolution_type "${rt}" it is in megapixels and must be under 20 (did you write pixels?).` });
    else if (rt === 'pixel' && val < 512 && !modelType.includes('deepfloyd')) out.push({ index: ds.index, at: [field], message: `"${field}" is ${v}: with resolution_type "pixel" it must be at least 512 (did you write megapixels?).` });
  }
  if (rt === 'pixel_area' && has(ds.raw, 'resolution') && !isInt(ds.raw.resolution) && !(typeof ds.raw.resolution === 'string' && /^\d+$/.test(ds.raw.resolution))) {
    out.push({ index: ds.index, at: ['resolution'], message: `resolution_type "pixel_area" needs "resolution" as a whole number of pixels (e.g. 1024), not ${q(ds.raw.resolution)}.` });
  }
  if (has(ds.raw, 'resolution_type') && ds.raw.resolution_type !== null && !(RESOLUTION_TYPES as readonly unknown[]).includes(ds.raw.resolution_type)) {
    out.push({ index: ds.index, at: ['resolution_type'], message: `Unknown resolution_type ${q(ds.raw.resolution_type)}: use ${RESOLUTION_TYPES.join(', ')}.` });
  }
  return out;
});

export const crop = dataset({
  code: 'crop', severity: 'error', summary: 'crop_aspect and crop_style are known values; crop_aspect "random"/"closest" needs a crop_aspect_buckets list of numbers or {aspect_bucket, weight} objects',
  mirrors: 'data_backend/factory.py init_backend_config; data_backend/config/validators.py validate_crop_aspect_buckets',
}, (ds) => {
  if (!isMedia(ds) || ds.datasetType === 'audio') return [];
  const out: Finding[] = [];
  const ca = ds.raw.crop_aspect;
  if (has(ds.raw, 'crop_aspect')) {
    if (!(CROP_ASPECTS as readonly unknown[]).includes(ca)) out.push({ index: ds.index, at: ['crop_aspect'], message: `Unknown crop_aspect ${q(ca)}: use ${CROP_ASPECTS.join(', ')}.` });
    else if (ca === 'random' || ca === 'closest') {
      const b = ds.raw.crop_aspect_buckets;
      if (!Array.isArray(b)) out.push({ index: ds.index, at: has(ds.raw, 'crop_aspect_buckets') ? ['crop_aspect_buckets'] : ['crop_aspect'], message: `crop_aspect "${ca}" needs "crop_aspect_buckets": a list of aspect ratios (e.g. [0.75, 1.0, 1.33]) or {"aspect_bucket": 1.0, "weight": 0.5} objects.` });
      else b.forEach((x, i) => { if (!isNumber(x) && !(x && typeof x === 'object' && !Array.isArray(x))) out.push({ index: ds.index, at: ['crop_aspect_buckets', i], message: `crop_aspect_buckets holds ${q(x)}: each bucket is a number or an {"aspect_bucket", "weight"} object.` }); });
    }
  }
  if (has(ds.raw, 'crop_style') && !(CROP_STYLES as readonly unknown[]).includes(ds.raw.crop_style)) out.push({ index: ds.index, at: ['crop_style'], message: `Unknown crop_style ${q(ds.raw.crop_style)}: use ${CROP_STYLES.join(', ')}.` });
  return out;
});

export const videoFrames = dataset({
  code: 'video-frames', severity: 'error', summary: 'video.num_frames and video.min_frames are whole numbers ≥ 1 and min_frames ≥ num_frames (num_frames defaults to 5 s at the training framerate)',
  mirrors: 'data_backend/factory.py init_backend_config (video block); data_backend/config/validators.py validate_video_frame_settings',
}, (ds, ctx) => {
  const video = ds.raw.video;
  const hasVideo = ds.datasetType === 'video' || (ds.datasetType === 'conditioning' && video && typeof video === 'object' && !Array.isArray(video));
  if (!hasVideo || !video || typeof video !== 'object') return [];
  const v = video as Record<string, unknown>;
  const out: Finding[] = [];
  for (const k of ['num_frames', 'min_frames'] as const) {
    if (!has(v, k)) continue;
    if (!isInt(v[k])) out.push({ index: ds.index, at: ['video', k], message: `video.${k} must be a whole number of frames, not ${q(v[k])}.` });
    else if ((v[k] as number) < 1) out.push({ index: ds.index, at: ['video', k], message: `video.${k} must be at least 1.` });
  }
  if (out.length) return out;
  const min = v.min_frames as number | undefined;
  if (min === undefined) return [];
  if (isInt(v.num_frames)) {
    if (min < v.num_frames) out.push({ index: ds.index, at: ['video', 'min_frames'], message: `video.min_frames (${min}) is below video.num_frames (${v.num_frames}): SimpleTuner requires min_frames ≥ num_frames (clips shorter than num_frames cannot be sampled).` });
    return out;
  }
  const fr = numeric(ctx.training?.framerate);
  const defaultNum = (fr ?? 30) * 5;
  if (min < defaultNum) {
    out.push(ctx.training
      ? { index: ds.index, at: ['video', 'min_frames'], message: `video.min_frames (${min}) is below num_frames, which defaults to 5 s at ${fr ?? 30} fps = ${defaultNum} frames: set "num_frames" ≤ ${min}.` }
      : { index: ds.index, at: ['video', 'min_frames'], severity: 'warning', message: `video.min_frames (${min}) without "num_frames": num_frames defaults to 5 s at the training framerate (${defaultNum} at 30 fps), and SimpleTuner refuses min_frames below it. Set "num_frames".` });
  }
  return out;
});

export const removedKeys = dataset({
  code: 'removed-key', severity: 'error', summary: 'options SimpleTuner removed and refuses ("disable_vae_cache" → "vae_cache_disable"; "caption_filter_list" outside text_embeds)',
  mirrors: 'data_backend/factory.py init_backend_config; data_backend/config/image.py ImageBackendConfig.from_dict',
}, (ds) => {
  const out: Finding[] = [];
  if (has(ds.raw, 'disable_vae_cache')) out.push({ index: ds.index, at: ['disable_vae_cache'], key: true, message: '"disable_vae_cache" has been removed from SimpleTuner, which refuses it: use "vae_cache_disable".' });
  if (has(ds.raw, 'caption_filter_list') && ds.datasetType !== 'text_embeds' && ds.datasetType !== 'image_embeds' && ds.datasetType !== 'conditioning_image_embeds' && ds.datasetType !== 'distillation_cache') {
    out.push({ index: ds.index, at: ['caption_filter_list'], key: true, message: '"caption_filter_list" only works on a text_embeds dataset; SimpleTuner refuses it here. Move it to the text_embeds dataset.' });
  }
  return out;
});

export const deprecatedKeys = dataset({
  code: 'deprecated-key', severity: 'warning', summary: 'options SimpleTuner ignores ("ignore_epochs")',
  mirrors: 'data_backend/factory.py init_backend_config',
}, (ds) => (has(ds.raw, 'ignore_epochs') && isMedia(ds) ? [{ index: ds.index, at: ['ignore_epochs'], key: true, message: '"ignore_epochs" is deprecated and does nothing; remove it.' }] : []));

export const captionShuffle = dataset({
  code: 'caption-shuffle', severity: 'error', summary: 'caption_shuffle is an object with split_on comma/space/period, count ≥ 1, position_start ≥ 0',
  mirrors: 'data_backend/factory.py init_backend_config (caption_shuffle)',
}, (ds) => {
  const cs = ds.raw.caption_shuffle;
  if (!isMedia(ds) || !truthy(cs)) return [];
  if (typeof cs !== 'object' || Array.isArray(cs)) return [{ index: ds.index, at: ['caption_shuffle'], message: 'caption_shuffle must be an object such as {"split_on": "comma", "count": 3}.' }];
  const c = cs as Record<string, unknown>;
  const out: Finding[] = [];
  if (has(c, 'split_on') && !['comma', 'space', 'period'].includes(c.split_on as string)) out.push({ index: ds.index, at: ['caption_shuffle', 'split_on'], message: 'caption_shuffle.split_on must be comma, space or period.' });
  if (has(c, 'count') && !(isInt(c.count) && c.count >= 1)) out.push({ index: ds.index, at: ['caption_shuffle', 'count'], message: 'caption_shuffle.count must be a whole number ≥ 1.' });
  if (has(c, 'position_start') && !(isInt(c.position_start) && c.position_start >= 0)) out.push({ index: ds.index, at: ['caption_shuffle', 'position_start'], message: 'caption_shuffle.position_start must be a whole number ≥ 0.' });
  return out;
});

export const conditioningBlock = dataset({
  code: 'conditioning-block', severity: 'error', summary: 'a "conditioning" block is an object or a list of objects, each with a "type" (canny, depth_midas, …)',
  mirrors: 'metadata/utils/duplicator.py DatasetDuplicator.generate_conditioning_datasets / _create_single_conditioning_config',
}, (ds) => {
  const c = ds.raw.conditioning;
  if (c === undefined || c === null || (Array.isArray(c) && !c.length) || (typeof c === 'object' && !Array.isArray(c) && !Object.keys(c).length)) return [];
  if (typeof c !== 'object') return [{ index: ds.index, at: ['conditioning'], message: '"conditioning" must be an object or a list of objects such as {"type": "canny"}.' }];
  const list = Array.isArray(c) ? c : [c];
  const out: Finding[] = [];
  list.forEach((e, i) => {
    const at = Array.isArray(c) ? ['conditioning', i] : ['conditioning'];
    if (!e || typeof e !== 'object' || Array.isArray(e)) out.push({ index: ds.index, at, message: 'Each "conditioning" entry must be an object such as {"type": "canny"}.' });
    else if (typeof (e as Record<string, unknown>).type !== 'string') out.push({ index: ds.index, at, message: 'A "conditioning" entry needs a "type" (canny, depth_midas, …): SimpleTuner refuses it without one.' });
  });
  return out;
});

export const numbers = dataset({
  code: 'number', severity: 'error', summary: 'train_batch_size is a positive whole number; repeats and probability are numbers',
  mirrors: 'data_backend/dataset_types.py parse_positive_train_batch_size; data_backend/factory.py init_backend_config (int(repeats), float(probability))',
}, (ds) => {
  if (!isMedia(ds) && ds.datasetType !== 'eval') return [];
  const out: Finding[] = [];
  const tbs = ds.raw.train_batch_size;
  if (!isBlank(tbs) && ds.datasetType !== 'eval' && !((isInt(tbs) && tbs >= 1 && typeof tbs !== 'boolean') || (typeof tbs === 'string' && /^[1-9]\d*$/.test(tbs)))) {
    out.push({ index: ds.index, at: ['train_batch_size'], message: `train_batch_size must be a positive whole number, not ${q(tbs)}.` });
  }
  for (const k of ['repeats', 'probability'] as const) {
    const v = ds.raw[k];
    // int()/float() take numbers, numeric strings and booleans; anything else stops SimpleTuner.
    if (truthy(v) && typeof v !== 'boolean' && numeric(v) === undefined) out.push({ index: ds.index, at: [k], message: `"${k}" must be a number, not ${q(v)}.` });
  }
  return out;
});

export const controlnetConditioning = dataset({
  code: 'controlnet-conditioning', severity: 'error', summary: 'with --controlnet, every image dataset has "conditioning_data" or a "conditioning" block (checked when the training config is known)',
  mirrors: 'data_backend/factory.py init_backend_config (controlnet)',
}, (ds, ctx) => {
  if (ctx.training?.controlnet !== true && ctx.training?.controlnet !== 'true') return [];
  if (ds.datasetType !== 'image' || !isBlank(ds.raw.conditioning_data) || !isBlank(ds.raw.conditioning)) return [];
  return [{ index: ds.index, at: ['id'], message: `ControlNet training needs "conditioning_data" (the id of a conditioning dataset) or a "conditioning" block on image dataset "${ds.id}".` }];
});

/** Keys whose value is a credential. */
export const CREDENTIAL_KEY = /(^|_)(secret|password|passwd|token|api_key|access_key_id|session_token)($|_)/i;

export const credentials = dataset({
  code: 'credential-in-file', severity: 'warning', summary: 'a credential written into the file (packaging replaces it with an `{env:…}` reference, so it never travels); `{env:VAR}` references are the way to keep it out',
  mirrors: 'Cloud Training (SimpleTuner accepts it; configuration/template_vars.py resolves {env:VAR})',
}, (ds) => {
  const out: Finding[] = [];
  const visit = (obj: Record<string, unknown>, at: Array<string | number>) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) visit(v as Record<string, unknown>, [...at, k]);
      else if (CREDENTIAL_KEY.test(k) && typeof v === 'string' && v.trim() && !referencesEnv(v)) {
        out.push({ index: ds.index, at: [...at, k], message: `"${k}" holds a credential in the file. Packages carry "{env:${k.toUpperCase()}}" in its place, never the value; write that reference here and set ${k.toUpperCase()} where SimpleTuner runs: it reads it from the environment.` });
      }
    }
  };
  visit(ds.raw, []);
  return out;
});

export const DATASET_RULES = [
  missingId, backendType, datasetTypeKnown, embedStorage, captionStrategyKnown, captionStrategyBackend, metadataBackend,
  instancePrompt, instanceDataDir, remoteRequired, imageSizes, crop, videoFrames, removedKeys, deprecatedKeys, captionShuffle,
  conditioningBlock, numbers, controlnetConditioning, credentials,
];
