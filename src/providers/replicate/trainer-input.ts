import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EMPTY_ZIP } from './archive';
import { ReplicateError } from './errors';
import { inputComponent } from './input-schema';
import type { PlanDetails } from './plan';

/**
 * The SimpleTuner trainer's declared inputs (predict.py `Predictor.predict`), filled the way the
 * runner reads them. Newer Cog versions list every input whose type is not `Optional[...]` as required
 * even when its default is None (replicate/cog#2258, #3051: only Optional inputs are left out of
 * `required`), so `images`, `config_json`, `dataloader_json`, `max_train_steps`, `hf_token` and
 * `lycoris_config` may all have to be sent. Where a value must be sent but must not take effect, an
 * empty string does exactly that: predict.py tests each with `if dataloader_json:` / `if lycoris_config:`
 * / `if hf_token` (L141, L146, L129 and cog.py `_apply_hf_token`).
 */
export interface SchemaFacts { declared: Set<string>; required: Set<string>; known: boolean }

export function schemaFacts(openapi: unknown): SchemaFacts {
  const root = inputComponent(openapi, 'Input');
  if (!root) return { declared: new Set(), required: new Set(), known: false };
  return {
    declared: new Set(Object.keys((root.properties ?? {}) as Record<string, unknown>)),
    required: new Set(Array.isArray(root.required) ? (root.required as string[]) : []),
    known: true,
  };
}

/** `--key` or `key` of a SimpleTuner JSON config. */
export const configValue = (cfg: Record<string, unknown>, key: string): unknown => cfg[`--${key}`] ?? cfg[key];

/** max_train_steps from the option, else the training config (the runner overrides the config's with it, cog.py L311-312). */
export function maxTrainSteps(option: number | undefined, training: Record<string, unknown>): number | undefined {
  if (option !== undefined) return option;
  const v = configValue(training, 'max_train_steps');
  const n = typeof v === 'string' ? Number(v.trim()) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The LyCORIS config the training config names, read from the workspace: on the trainer that path
 * does not exist, so it travels inline (predict.py L144-162 writes inline JSON to disk and points
 * `--lycoris_config` at it).
 */
export async function lycorisConfig(training: Record<string, unknown>, trainingConfigPath: string | undefined, workspace: string | undefined): Promise<string | undefined> {
  if (configValue(training, 'lora_type') !== 'lycoris') return undefined;
  const ref = configValue(training, 'lycoris_config');
  if (typeof ref !== 'string' || !ref.trim()) throw new ReplicateError('The training config uses lora_type "lycoris" but names no --lycoris_config file.');
  const bases = [workspace, trainingConfigPath && path.dirname(trainingConfigPath), trainingConfigPath && path.dirname(path.dirname(trainingConfigPath))].filter((b): b is string => !!b);
  const candidates = path.isAbsolute(ref) ? [ref] : bases.map((b) => path.resolve(b, ref));
  for (const c of candidates) {
    const text = await fs.readFile(c, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    try { JSON.parse(text); } catch { throw new ReplicateError(`The LyCORIS config ${c} is not valid JSON.`); }
    return text;
  }
  throw new ReplicateError(`The LyCORIS config "${ref}" was not found (looked in ${candidates.join(', ')}).`);
}

export interface TrainerInputArgs {
  schema: SchemaFacts;
  plan: PlanDetails;
  training: Record<string, unknown>;
  maxTrainSteps?: number;
  lycoris?: string;
  /** hub_model_id / hf_token / s3_* from the results destination. */
  publish: Record<string, unknown>;
}

/** The prediction input, before the upload (`images` is filled in with the file's URL afterwards on the archive route). */
export function trainerInput(a: TrainerInputArgs): Record<string, unknown> {
  const { schema } = a;
  // Without a schema (a model that publishes none) send what the trainer reads; with one, only what it declares.
  const declared = (k: string) => !schema.known || schema.declared.has(k);
  const required = (k: string) => schema.required.has(k);
  const input: Record<string, unknown> = {};
  if (a.plan.configJson !== undefined) input.config_json = a.plan.configJson;
  if (a.plan.route === 'archive') {
    input.images = 'https://upload.pending.invalid/images.zip'; // checked as a URL now, replaced after the upload
    if (required('dataloader_json')) input.dataloader_json = ''; // empty: the runner unpacks `images` (predict.py L141)
  } else {
    input.dataloader_json = a.plan.dataloaderJson;
    // The data travels another way; a required `images` gets an empty archive as a data URL, uploaded nowhere
    // (Replicate accepts data URLs for file inputs: https://replicate.com/docs/topics/predictions/input-files).
    if (required('images')) input.images = `data:application/zip;base64,${EMPTY_ZIP.toString('base64')}`;
  }
  const steps = maxTrainSteps(a.maxTrainSteps, a.training);
  if (declared('max_train_steps') && steps !== undefined) input.max_train_steps = steps;
  else if (required('max_train_steps')) {
    throw new ReplicateError('The trainer requires max_train_steps: set --max_train_steps in the training config or pass --max-train-steps.');
  }
  if (declared('lycoris_config') && a.lycoris !== undefined) input.lycoris_config = a.lycoris;
  else if (required('lycoris_config')) input.lycoris_config = '';
  Object.assign(input, a.publish);
  if (required('hf_token') && (input.hf_token === undefined || input.hf_token === null)) input.hf_token = '';
  for (const k of Object.keys(input)) if (input[k] === undefined) delete input[k];
  return input;
}
