import * as vscode from 'vscode';
import { DataRequestSchema, parseDataFlag, type DataRequest } from '../../providers/replicate/data-route';

/** globalState key of the last bucket / dataset repo chosen (no secrets: bucket, prefix, endpoint, key ids, repo). */
const LAST_REMOTE_KEY = 'cloudTraining.replicate.lastDataLocation';
type Remote = Extract<DataRequest, { kind: 's3' | 'hf' }>;

/** The remembered remote location, if it still parses (a damaged value is ignored, not trusted). */
export function rememberedRemote(memory: vscode.Memento | undefined): Remote | undefined {
  const r = DataRequestSchema.safeParse(memory?.get(LAST_REMOTE_KEY));
  return r.success && (r.data.kind === 's3' || r.data.kind === 'hf') ? r.data : undefined;
}
const describe = (r: Remote) => (r.kind === 's3' ? `s3://${r.bucket}${r.prefix ? `/${r.prefix}` : ''}` : `hf:${r.repo}`);

const MODEL_REF = /^[a-z0-9][a-z0-9._-]*\/[a-z0-9][a-z0-9._-]*$/i;

/**
 * The Replicate part of Submit…: SimpleTuner's trainer (and how it gets the data, README "Replicate:
 * how the trainer gets your data") or a trainable model (trainings.create into a destination model),
 * the same choices as `cloudtrain submit --data … / --model … --destination …`. Undefined = cancelled.
 */
export async function pickReplicateOptions(memory?: vscode.Memento): Promise<Record<string, unknown> | undefined> {
  const kind = await vscode.window.showQuickPick([
    { label: 'SimpleTuner trainer', description: 'simpletuner/advanced-trainer-<profile>', detail: 'Runs your SimpleTuner config on Replicate', id: 'trainer' as const },
    { label: 'A trainable model', description: 'trainings.create', detail: 'Trains a model like ostris/flux-dev-lora-trainer on the package; the result is a new version of your destination model', id: 'trainable' as const },
  ], { placeHolder: 'What should train on Replicate?' });
  if (!kind) return undefined;
  if (kind.id === 'trainable') {
    const ref = (prompt: string, value: string) => vscode.window.showInputBox({
      prompt, value, ignoreFocusOut: true, validateInput: (v) => (MODEL_REF.test(v.trim()) ? undefined : 'owner/name, e.g. me/my-model'),
    });
    const model = (await ref('Trainable model (owner/name)', 'ostris/flux-dev-lora-trainer'))?.trim();
    if (!model) return undefined;
    const destination = (await ref('Destination model that receives the trained version (owner/name)', ''))?.trim();
    if (!destination) return undefined;
    return { mode: 'trainable', model, destination };
  }
  // Automatic falls back to the bucket/repo last chosen here, when the archive route does not fit.
  const last = rememberedRemote(memory);
  const route = await vscode.window.showQuickPick([
    last
      ? { label: 'Automatic', description: `archive when the dataloader fits it, else ${describe(last)}`, detail: `One image dataset with file-name or one-line captions, under 100 MiB; otherwise the trainer reads ${describe(last)} (your last choice; consent says which)`, id: 'auto' }
      : { label: 'Automatic', description: 'archive when the dataloader fits it', detail: 'One image dataset with file-name or one-line captions, under 100 MiB; otherwise you are told why before anything is uploaded', id: 'auto' },
    { label: 'Archive', description: 'the trainer unpacks the images itself', detail: 'Refused (with the reason) when the dataloader does not fit', id: 'archive' },
    { label: 'S3 bucket', description: 'the trainer reads the datasets from a bucket', detail: 'Every dataset and setting kept; read-only per-job keys on the built-in endpoint, revoked when the job ends', id: 's3' },
    { label: 'HuggingFace dataset repo', description: 'the trainer reads a private dataset repo', detail: 'Every image dataset as one split, captions kept; read with your HuggingFace token (use a fine-grained one)', id: 'hf' },
  ], { placeHolder: 'How should the trainer get your datasets?' });
  if (!route) return undefined;
  if (route.id === 'hf') {
    const repo = await vscode.window.showInputBox({
      prompt: 'HuggingFace dataset repo for the datasets (owner/name; created private if missing)', ignoreFocusOut: true,
      validateInput: (v) => (MODEL_REF.test(v.trim()) ? undefined : 'owner/name, e.g. me/my-training-data'),
    });
    if (!repo) return undefined;
    const data: Remote = { kind: 'hf', repo: repo.trim() };
    await memory?.update(LAST_REMOTE_KEY, data);
    return { data };
  }
  if (route.id === 'auto') return last ? { data: { kind: 'auto', fallback: last } } : {};
  if (route.id !== 's3') return { data: { kind: route.id } };
  const where = await vscode.window.showInputBox({
    prompt: 'Bucket and prefix for the datasets (on the built-in endpoint)', value: 's3://datasets/cloud-training', ignoreFocusOut: true,
    validateInput: (v) => { try { return parseDataFlag(v).kind === 's3' ? undefined : 'expected s3://bucket/prefix'; } catch (e) { return (e as Error).message; } },
  });
  if (!where) return undefined;
  const endpoint = await vscode.window.showInputBox({
    prompt: 'URL at which Replicate reaches the endpoint (e.g. your tunnel to this machine, ending in /api/cloud/storage); empty = this machine\'s own URL',
    ignoreFocusOut: true, validateInput: (v) => (!v.trim() || /^https?:\/\/\S+$/.test(v.trim()) ? undefined : 'a URL, or empty'),
  });
  if (endpoint === undefined) return undefined;
  const data = { ...parseDataFlag(where), ...(endpoint.trim() ? { endpoint: endpoint.trim() } : {}) } as Remote;
  await memory?.update(LAST_REMOTE_KEY, data);
  return { data };
}
