import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import * as z from 'zod';
import { ConsentPolicySchema } from '../consent/policy';
import { SpendingLimitsSchema } from '../cost/limits';
import type { UserPricing } from '../cost/prices';

const Price = z.number().nonnegative().nullish().transform((v) => v ?? undefined);

/**
 * The settings that govern a submission. The extension reads them from VS Code's configuration; the CLI
 * from the same keys in `<dataHome>/settings.json` (which the extension keeps in sync) and the
 * workspace's `.vscode/settings.json`, so a terminal obeys the same consent policy and limits.
 */
export const SubmitSettingsSchema = z.object({
  uploadConsent: ConsentPolicySchema.catch('ask').default('ask'),
  limits: SpendingLimitsSchema.prefault({}),
  pricing: z.object({
    ssh: z.object({ perGpuHour: Price }).prefault({}),
    slurm: z.object({ perGpuHour: Price }).prefault({}),
  }).prefault({}),
  /** `local.capacity`: jobs at once on this machine (0/absent: its GPU count, or 1). */
  local: z.object({ command: z.string().optional(), capacity: z.number().int().nonnegative().optional().catch(undefined) }).prefault({}),
  /** `ssh.hostCapacity` (every host) and `ssh.hostCapacities` ({host: n}): jobs at once per SSH host (0/absent: its GPU count, or 1). */
  ssh: z.object({
    hostCapacity: z.number().int().nonnegative().optional().catch(undefined),
    hostCapacities: z.record(z.string(), z.number().int().nonnegative()).optional().catch(undefined),
  }).prefault({}),
  /** Extra exclude globs for packaging (more exclusions only ever send less, so workspaces may set them). */
  packaging: z.object({ extraExcludes: z.array(z.string()).catch([]).default([]) }).prefault({}),
  /** `cloudTraining.snapshots.enabled`: record each job's configs under refs/cloud-training/<job> (resource-scoped: workspaces may set it). */
  snapshots: z.object({ enabled: z.boolean().catch(false).default(false) }).prefault({}),
});
export type SubmitSettings = z.infer<typeof SubmitSettingsSchema>;

export function userPricing(s: SubmitSettings): UserPricing {
  return { perGpuHour: { ssh: s.pricing.ssh.perGpuHour, slurm: s.pricing.slurm.perGpuHour } };
}

/**
 * `{"cloudTraining.limits.daily": 5, "cloudTraining.limits": {"monthly": 50}}` → the nested
 * `cloudTraining` object. VS Code writes dotted keys; people also write nested objects.
 */
export function cloudTrainingSection(flat: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    if (key === 'cloudTraining' && isObject(value)) { deepMerge(out, value); continue; }
    if (!key.startsWith('cloudTraining.')) continue;
    const parts = key.slice('cloudTraining.'.length).split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) node = (isObject(node[p]) ? node[p] : (node[p] = {})) as Record<string, unknown>;
    const last = parts[parts.length - 1]!;
    node[last] = isObject(value) && isObject(node[last]) ? deepMerge(node[last] as Record<string, unknown>, value) : value;
  }
  return out;
}

export function parseSubmitSettings(section: Record<string, unknown>): SubmitSettings {
  const r = SubmitSettingsSchema.safeParse(section);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new Error(`Invalid setting cloudTraining.${issue.path.join('.')}: ${issue.message}`);
}

/** The workspace a config belongs to: the nearest folder above it holding `.vscode/`, else the folder above `config/`. */
export function workspaceOf(configPath: string | undefined, cwd: string): string {
  if (!configPath) return cwd;
  let dir = path.dirname(path.resolve(cwd, configPath));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, '.vscode'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const configDir = path.dirname(path.resolve(cwd, configPath));
  return path.basename(configDir) === 'config' ? path.dirname(configDir) : configDir;
}

export interface CliSettingsResult { settings: SubmitSettings; sources: string[] }

/** For the CLI: data-home settings, then the workspace's `.vscode/settings.json`, then environment overrides. */
export async function loadCliSettings(opts: { dataHome: string; workspace?: string; env: NodeJS.ProcessEnv }): Promise<CliSettingsResult> {
  const section: Record<string, unknown> = {};
  const sources: string[] = [];
  const files = [path.join(opts.dataHome, 'settings.json')];
  if (opts.workspace) files.push(path.join(opts.workspace, '.vscode', 'settings.json'));
  for (const file of files) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch {
      continue;
    }
    const parsed: unknown = parseJsonc(text, [], { allowTrailingComma: true });
    if (!isObject(parsed)) throw new Error(`${file} should hold a JSON object`);
    const found = cloudTrainingSection(parsed);
    if (file !== files[0]) {
      // A cloned repository must not be able to switch consent to "allow" or raise spending limits:
      // in VS Code these settings are application-scoped (user settings only), and so they are here.
      delete found.uploadConsent;
      delete found.limits;
    }
    deepMerge(section, found);
    sources.push(file);
  }
  const envPolicy = opts.env.CLOUD_TRAINING_UPLOAD_CONSENT?.trim();
  if (envPolicy) { section.uploadConsent = ConsentPolicySchema.parse(envPolicy); sources.push('CLOUD_TRAINING_UPLOAD_CONSENT'); }
  const envCommand = opts.env.CLOUD_TRAINING_LOCAL_COMMAND?.trim();
  if (envCommand) { section.local = { ...(section.local as object), command: envCommand }; sources.push('CLOUD_TRAINING_LOCAL_COMMAND'); }
  return { settings: parseSubmitSettings(section), sources };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(from)) {
    into[k] = isObject(v) && isObject(into[k]) ? deepMerge(into[k] as Record<string, unknown>, v) : v;
  }
  return into;
}
