// Rules over the whole list. Each rule's `mirrors` is its one-line statement of the SimpleTuner check it
// follows (file and function, paths under simpletuner/helpers/, as of commit bc8e6ab: SIMPLETUNER_CHECKED).
import { DATA_TYPES, TRAINING_TYPES, truthy } from '../simpletuner';
import { config, q, type DatasetView, type Finding, type RuleContext, type Severity } from './types';

/**
 * The order SimpleTuner configures datasets in (factory.py FactoryRegistry.configure): text embeds, image embeds,
 * conditioning image embeds, distillation caches, then the data sets. Which repeated ids it refuses depends on it.
 */
const CONFIGURE_RANK: Record<string, number> = { text_embeds: 0, image_embeds: 1, conditioning_image_embeds: 2, distillation_cache: 3 };
const rank = (d: DatasetView): number => CONFIGURE_RANK[d.datasetType ?? ''] ?? 4;

/** Refused: a later embed/distillation set meets any earlier config ("You can only have one backend named"), or two data/distillation sets meet (_prevalidate_backend_ids). */
function duplicateRefused(a: DatasetView, b: DatasetView): boolean {
  const [r1, r2] = [rank(a), rank(b)].sort((x, y) => x - y) as [number, number];
  if (r2 >= 1 && r2 <= 3) return true;
  return r2 === 4 && r1 >= 3;
}

export const duplicateIds = config({
  code: 'duplicate-id', severity: 'error', summary: 'ids are unique among enabled datasets (disabled entries may repeat an id); a warning where SimpleTuner silently lets one replace the other (e.g. two text_embeds)',
  mirrors: 'data_backend/factory.py FactoryRegistry._prevalidate_backend_ids / configure_image_embed_backends ("You can only have one backend named")',
}, (ctx) => {
  const seen = new Map<string, DatasetView>();
  const out: Finding[] = [];
  for (const ds of ctx.enabled) {
    if (!ds.id) continue;
    const first = seen.get(ds.id);
    if (!first) { seen.set(ds.id, ds); continue; }
    const refused = duplicateRefused(first, ds);
    out.push({ index: ds.index, at: ['id'], severity: refused ? 'error' : 'warning',
      message: `Duplicate dataset id "${ds.id}" (also dataset #${first.index + 1}): every enabled dataset needs a unique id${refused ? '' : ' (SimpleTuner would let one silently replace the other)'}; rename one.` });
  }
  return out;
});

export const textEmbedDefault = config({
  code: 'text-embeds-default', severity: 'error', summary: 'at most one enabled text_embeds dataset is "default": true (none, or none marked, is fine: SimpleTuner creates or picks one)',
  mirrors: 'data_backend/factory.py FactoryRegistry._ensure_text_embed_backends_present',
}, (ctx) => {
  const defaults = ctx.enabled.filter((d) => d.datasetType === 'text_embeds' && d.raw.default === true);
  return defaults.slice(1).map((d) => ({ index: d.index, at: ['default'], message: `Only one text_embeds dataset can be "default": true; "${defaults[0]!.id}" already is.` }));
});

interface Link { field: string; want?: (t: DatasetView) => boolean; wantLabel?: string; severity: Severity }
const isConditioning = (t: DatasetView) => t.datasetType === 'conditioning';

/** The links SimpleTuner follows from a dataset, with the kind of dataset each must reach. */
function linksOf(ds: DatasetView): Link[] {
  const links: Link[] = [];
  const data = ds.datasetType !== undefined && DATA_TYPES.has(ds.datasetType) && ds.datasetType !== 'caption';
  if (data) {
    // data_backend/factory.py _assign_text_embed_cache: backend.get("text_embeds", backend.get("text_embed_cache", default))
    links.push({ field: 'text_embeds' in ds.raw ? 'text_embeds' : 'text_embed_cache', want: (t) => t.datasetType === 'text_embeds', wantLabel: 'text_embeds', severity: 'error' });
    links.push({ field: 'image_embeds', want: (t) => t.datasetType === 'image_embeds', wantLabel: 'image_embeds', severity: 'error' });
    links.push({ field: 'conditioning_image_embeds', want: (t) => t.datasetType === 'conditioning_image_embeds', wantLabel: 'conditioning_image_embeds', severity: 'error' });
  }
  // data_backend/factory.py _connect_conditioning_datasets: only image/video/audio datasets (dataset_type null counts as image).
  const rawType = ds.raw.dataset_type;
  if (rawType === undefined || rawType === null || rawType === 'image' || rawType === 'video' || rawType === 'audio') {
    if (ds.datasetType !== 'conditioning') links.push({ field: 'conditioning_data', want: isConditioning, wantLabel: 'conditioning (or with a "conditioning_type")', severity: 'error' });
  }
  if (rawType === 'video') links.push({ field: 's2v_datasets', want: (t) => t.datasetType === 'audio', wantLabel: 'audio', severity: 'error' });
  const strict = ds.raw.conditioning_type === 'reference_strict' || ds.raw.conditioning_type === 'mask';
  links.push({ field: 'source_dataset_id', severity: strict ? 'error' : 'warning' });
  return links;
}

function targets(ds: DatasetView, field: string): Array<{ id: unknown; at: Array<string | number> }> {
  const v = ds.raw[field];
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((id, i) => ({ id, at: [field, i] }));
  return [{ id: v, at: [field] }];
}

/** A dataset's "conditioning" block as a list (metadata/utils/duplicator.py generate_conditioning_datasets). */
export function conditioningEntries(raw: Record<string, unknown>): unknown[] {
  const c = raw.conditioning;
  if (c === undefined || c === null) return [];
  return Array.isArray(c) ? c : [c];
}

/** Ids of the conditioning datasets SimpleTuner generates from "conditioning" blocks: `<id>_conditioning_<type>` (duplicator.py _create_single_conditioning_config). */
function generatedConditioningIds(ctx: RuleContext): Set<string> {
  const ids = new Set<string>();
  for (const d of ctx.enabled) for (const c of conditioningEntries(d.raw)) {
    if (c && typeof c === 'object' && typeof (c as { type?: unknown }).type === 'string') ids.add(`${d.id}_conditioning_${(c as { type: string }).type}`);
  }
  return ids;
}

function checkLinks(ctx: RuleContext, kind: 'unknown' | 'type' | 'disabled'): Finding[] {
  const out: Finding[] = [];
  const all = new Map<string, DatasetView>();
  for (const d of ctx.datasets) if (d.id && !all.has(d.id)) all.set(d.id, d);
  const enabled = new Map(ctx.enabled.filter((d) => d.id).map((d) => [d.id!, d]));
  const generated = generatedConditioningIds(ctx);
  for (const ds of ctx.enabled) {
    for (const link of linksOf(ds)) {
      // A "conditioning" block replaces the dataset's conditioning_data with the generated datasets.
      if (link.field === 'conditioning_data' && conditioningEntries(ds.raw).length) continue;
      for (const t of targets(ds, link.field)) {
        if (typeof t.id !== 'string') continue;
        if (link.field === 'conditioning_data' && generated.has(t.id)) continue;
        const target = enabled.get(t.id);
        if (!target) {
          const disabled = all.get(t.id);
          if (disabled && kind === 'disabled') {
            out.push({ index: ds.index, at: t.at, severity: link.severity, message: `"${link.field}" refers to "${t.id}", which is disabled: SimpleTuner drops disabled datasets first, so this link finds nothing. Enable "${t.id}" or remove the link.` });
          } else if (!disabled && kind === 'unknown') {
            out.push({ index: ds.index, at: t.at, severity: link.severity,
              message: `"${link.field}" refers to dataset id "${t.id}", which is not defined in this file. Known ids: ${[...enabled.keys()].join(', ') || 'none'}.` });
          }
        } else if (kind === 'type' && link.want && !link.want(target)) {
          out.push({ index: ds.index, at: t.at, severity: link.severity, message: `"${link.field}" must name a ${link.wantLabel} dataset, but "${t.id}" is ${target.datasetType ?? q(target.raw.dataset_type)}.` });
        }
      }
    }
  }
  return out;
}

const LINK_MIRRORS = 'data_backend/factory.py FactoryRegistry._assign_text_embed_cache / _get_image_embed_backend / _get_conditioning_image_embed_backend / _connect_conditioning_datasets / _connect_s2v_datasets';
export const unknownLink = config({ code: 'unknown-link', severity: 'error', summary: 'text_embeds, image_embeds, conditioning_image_embeds, conditioning_data, s2v_datasets and source_dataset_id name a dataset in the file (source_dataset_id: warning unless strict conditioning)', mirrors: LINK_MIRRORS }, (ctx) => checkLinks(ctx, 'unknown'));
export const linkType = config({ code: 'link-type', severity: 'error', summary: 'each link names a dataset of the right dataset_type (conditioning_data → conditioning, s2v_datasets → audio, …)', mirrors: LINK_MIRRORS }, (ctx) => checkLinks(ctx, 'type'));
export const linkDisabled = config({ code: 'link-disabled', severity: 'error', summary: 'no link names a disabled dataset (SimpleTuner dropped it, so the link fails)', mirrors: `data_backend/factory.py sort_dataset_configs_by_dependencies; ${LINK_MIRRORS}` }, (ctx) => checkLinks(ctx, 'disabled'));

export const sharedVaeCache = config({
  code: 'shared-cache-dir', severity: 'error', summary: 'no two enabled datasets share a "cache_dir_vae", and none is a text_embeds "cache_dir" (after filling {id} and the other template variables)',
  mirrors: 'data_backend/factory.py FactoryRegistry._configure_vae_cache',
}, (ctx) => {
  const out: Finding[] = [];
  const textDirs = new Map<string, DatasetView>();
  // The list SimpleTuner compares against holds the enabled text_embeds datasets (disabled ones were dropped on load).
  for (const d of ctx.enabled) if (d.datasetType === 'text_embeds') { const c = d.text('cache_dir'); if (c && !textDirs.has(c)) textDirs.set(c, d); }
  const seen = new Map<string, DatasetView>();
  for (const ds of ctx.enabled) {
    // VAE caches exist for these types; mask/controlnet conditioning sets are not VAE-encoded.
    if (!ds.datasetType || !['image', 'video', 'conditioning', 'eval', 'audio'].includes(ds.datasetType)) continue;
    if (ds.raw.conditioning_type === 'mask' || ds.raw.conditioning_type === 'controlnet') continue;
    const dir = ds.text('cache_dir_vae');
    if (!dir) continue;
    // Audio datasets get a VAE cache only on models with audio latents: a clash there is likely, not certain.
    const severity: Severity = ds.datasetType === 'audio' ? 'warning' : 'error';
    const first = seen.get(dir);
    if (first) out.push({ index: ds.index, at: ['cache_dir_vae'], severity, message: `cache_dir_vae "${dir}" is also used by "${first.id}": SimpleTuner refuses two datasets sharing a VAE cache. Use e.g. "cache/vae/{id}".` });
    else seen.set(dir, ds);
    const text = textDirs.get(dir);
    if (text) out.push({ index: ds.index, at: ['cache_dir_vae'], severity, message: `cache_dir_vae "${dir}" is the text embed cache of "${text.id}": SimpleTuner refuses a VAE cache in the text embed cache folder.` });
  }
  return out;
});

export const sharedTextCache = config({
  code: 'shared-text-cache', severity: 'warning', summary: 'two enabled text_embeds datasets writing the same "cache_dir"',
  mirrors: 'data_backend/factory.py FactoryRegistry.configure_text_embed_backends (each cache clears and fills its own folder)',
}, (ctx) => {
  const seen = new Map<string, DatasetView>();
  const out: Finding[] = [];
  for (const ds of ctx.enabled) {
    if (ds.datasetType !== 'text_embeds') continue;
    const dir = ds.text('cache_dir');
    if (!dir) continue;
    const first = seen.get(dir);
    if (first) out.push({ index: ds.index, at: ['cache_dir'], message: `Text embed cache "${dir}" is also used by "${first.id}"; give each text_embeds dataset its own folder.` });
    else seen.set(dir, ds);
  }
  return out;
});

export const primaryDataset = config({
  code: 'no-training-dataset', severity: 'error', summary: 'at least one enabled image, video, audio, conditioning, eval or caption dataset',
  mirrors: 'data_backend/factory.py FactoryRegistry.configure_data_backends ("Must provide at least one data backend")',
}, (ctx) => {
  if (!ctx.datasets.length) return [];
  if (ctx.enabled.some((d) => d.datasetType !== undefined && DATA_TYPES.has(d.datasetType))) return [];
  return [{ at: [], message: 'No enabled image, video, audio or conditioning dataset: SimpleTuner needs at least one dataset to train on.' }];
});

const whole = (v: unknown, dflt: number | undefined): number | undefined => (v === undefined || v === null || v === '' ? dflt : typeof v === 'number' ? v : Number.isFinite(Number(v)) ? Number(v) : dflt);

export const schedule = config({
  code: 'schedule', severity: 'error', summary: 'end_epoch/end_step not before start_epoch/start_step, and at least one training dataset active from the start',
  mirrors: 'data_backend/factory.py FactoryRegistry._validate_schedule_windows',
}, (ctx) => {
  const out: Finding[] = [];
  const training = ctx.enabled.filter((d) => d.datasetType !== undefined && TRAINING_TYPES.has(d.datasetType));
  let activeAtStart = false;
  for (const ds of training) {
    const se = whole(ds.raw.start_epoch, 1)!, ss = whole(ds.raw.start_step, 0)!;
    const ee = whole(ds.raw.end_epoch, undefined), es = whole(ds.raw.end_step, undefined);
    if (se <= 1 && ss <= 1) activeAtStart = true;
    if (ee !== undefined && ee < se) out.push({ index: ds.index, at: ['end_epoch'], message: `end_epoch (${ee}) is before start_epoch (${se}).` });
    if (es !== undefined && ss > 0 && es < ss) out.push({ index: ds.index, at: ['end_step'], message: `end_step (${es}) is before start_step (${ss}).` });
  }
  if (training.length && !activeAtStart) out.push({ index: training[0]!.index, at: ['start_epoch' in training[0]!.raw ? 'start_epoch' : 'start_step'], message: 'No dataset is available when training starts: give at least one dataset start_epoch ≤ 1 and start_step ≤ 1.' });
  return out;
});

export const disabledFlag = config({
  code: 'disabled-flag', severity: 'warning', summary: '"disabled"/"disable" written as a string: SimpleTuner reads any non-empty string (even "false") as disabled',
  mirrors: 'data_backend/factory.py sort_dataset_configs_by_dependencies (Python truthiness)',
}, (ctx) => ctx.datasets.flatMap((ds) => (['disabled', 'disable'] as const)
  .filter((k) => typeof ds.raw[k] === 'string')
  .map((k) => ({ index: ds.index, at: [k], message: `"${k}": ${q(ds.raw[k])} is a string; SimpleTuner treats ${ds.raw[k] ? 'any non-empty string, even "false", as true' : 'an empty string as false'}. Write true or false.` }))));

export const CONFIG_RULES = [duplicateIds, textEmbedDefault, unknownLink, linkType, linkDisabled, sharedVaeCache, sharedTextCache, primaryDataset, schedule, disabledFlag];
