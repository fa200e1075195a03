/**
 * What SimpleTuner itself accepts in a dataloader config, read from its source. Every value here names
 * the SimpleTuner file and function it mirrors, so it can be re-checked when SimpleTuner changes.
 */
export const SIMPLETUNER_CHECKED = {
  repository: 'https://github.com/bghira/SimpleTuner',
  commit: 'bc8e6ab7738ce457a2ed8eb2d26cadd91c6442cb',
  date: '2026-08-22',
} as const;

// builders/__init__.py create_backend_builder (builder_mapping)
export const BACKEND_TYPES = ['local', 'aws', 'csv', 'huggingface', 'memory', 'webshart'] as const;
// dataset_types.py DatasetType (every member; null/missing = image)
export const DATASET_TYPES = ['image', 'video', 'audio', 'conditioning', 'eval', 'text_embeds', 'image_embeds', 'conditioning_image_embeds', 'distillation_cache', 'caption', 'grounding'] as const;
// prompts.py PromptHandler.magic_prompt (null/missing = the training config's caption_strategy)
export const CAPTION_STRATEGIES = ['filename', 'textfile', 'parquet', 'instanceprompt', 'csv', 'huggingface', 'webshart'] as const;
// factory.py FactoryRegistry._configure_metadata_backend ('filesystem' is a deprecated alias of 'discovery')
export const METADATA_BACKENDS = ['discovery', 'json', 'filesystem', 'parquet', 'huggingface', 'webshart'] as const;
// config/validators.py validate_resolution_type
export const RESOLUTION_TYPES = ['pixel', 'area', 'pixel_area'] as const;
// factory.py init_backend_config (crop_aspect / crop_style choices)
export const CROP_ASPECTS = ['square', 'preserve', 'random', 'closest'] as const;
export const CROP_STYLES = ['random', 'corner', 'center', 'centre', 'face'] as const;
// factory.py fill_variables_in_config_paths + configuration/template_vars.py resolve_string_placeholders
export const TEMPLATE_VARIABLES = ['{id}', '{model_family}', '{output_dir}', '{env:VAR}'] as const;

/** Datasets that go through init_backend_config's image branch (factory.py init_backend_config `choices`). */
export const MEDIA_TYPES: ReadonlySet<string> = new Set(['image', 'audio', 'conditioning', 'eval', 'video', 'caption', 'grounding']);
/** Datasets configured by FactoryRegistry.configure_data_backends. */
export const DATA_TYPES: ReadonlySet<string> = new Set(['image', 'audio', 'conditioning', 'eval', 'video', 'caption']);
/** Datasets that are trained on (factory.py FactoryRegistry._validate_schedule_windows `training_types`). */
export const TRAINING_TYPES: ReadonlySet<string> = new Set(['image', 'video', 'audio', 'conditioning', 'caption']);

/**
 * Storage each embed cache may use: factory.py configure_text_embed_backends / configure_image_embed_backends /
 * configure_conditioning_image_embed_backends raise "Unknown data backend type" (or "Cannot use CSV") otherwise.
 */
export const EMBED_BACKENDS: Readonly<Record<string, readonly string[]>> = {
  text_embeds: ['local', 'memory', 'aws'],
  image_embeds: ['local', 'memory', 'aws'],
  conditioning_image_embeds: ['local', 'aws'],
};

/** Python truthiness, which is how SimpleTuner reads flags such as "disabled" (`if backend.get(...)`). */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

/** factory.py sort_dataset_configs_by_dependencies: `disabled` or its alias `disable`, either truthy. */
export const isDisabled = (raw: Record<string, unknown>): boolean => truthy(raw.disabled) || truthy(raw.disable);

/** dataset_types.py DatasetType.from_value: strip + lower-case; null/missing = image; undefined if unknown. */
export function normaliseDatasetType(v: unknown): string | undefined {
  if (v === null || v === undefined) return 'image';
  if (typeof v !== 'string') return undefined;
  const n = v.trim().toLowerCase();
  return (DATASET_TYPES as readonly string[]).includes(n) ? n : undefined;
}
