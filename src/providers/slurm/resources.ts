import * as z from 'zod';

/**
 * Slurm time limit as sbatch accepts it: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS.
 * (Slurm rounds to whole minutes; 1 minute is the smallest limit that means anything.)
 */
const TIME_LIMIT = /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d{1,2}(:\d{1,2}){0,2})$/;
/** sbatch --mem: a number with an optional K/M/G/T suffix (megabytes when bare). */
const MEMORY = /^\d+[KMGT]?$/i;
/** Names Slurm takes verbatim into the script; no spaces or shell metacharacters. */
const SLURM_WORD = /^[A-Za-z0-9_.:+-]+$/;

/**
 * What the user may edit before submitting. Every field becomes one `#SBATCH` line; the schema is the
 * single source of truth for defaults and validation (settings, the quick-pick editor and the CLI).
 */
export const SlurmResourcesSchema = z.object({
  jobName: z.string().regex(SLURM_WORD, 'letters, digits and _ . : + - only').max(128).default('cloud-training'),
  partition: z.string().regex(SLURM_WORD).optional(),
  account: z.string().regex(SLURM_WORD).optional(),
  qos: z.string().regex(SLURM_WORD).optional(),
  nodes: z.number().int().min(1).max(4096).default(1),
  gpusPerNode: z.number().int().min(0).max(64).default(1),
  /** GPU type for `--gres=gpu:<type>:N` (e.g. a100); omitted means any. */
  gpuType: z.string().regex(SLURM_WORD).optional(),
  /** Old clusters only know `--gres`; `--gpus-per-node` (Slurm ≥ 19.05) also sets the GPU binding. */
  gpuFlag: z.enum(['gres', 'gpus-per-node']).default('gres'),
  cpusPerTask: z.number().int().min(1).max(1024).default(8),
  memory: z.string().regex(MEMORY, 'e.g. 64G, 512M or 0 for all of the node').optional(),
  timeLimit: z.string().regex(TIME_LIMIT, 'minutes, HH:MM:SS or D-HH:MM:SS').default('04:00:00'),
  /** Extra `#SBATCH` options the form does not cover, each like "--constraint=ib". */
  extraDirectives: z.array(z.string().regex(/^--[a-z][a-z-]*(=[^\n\r]*)?$/, 'one --option[=value] per entry')).default([]),
});
export type SlurmResources = z.infer<typeof SlurmResourcesSchema>;
export type SlurmResourcesInput = z.input<typeof SlurmResourcesSchema>;

/** How each task starts the training program across nodes. */
export const LauncherSchema = z.enum(['torchrun', 'accelerate', 'srun']);
export type Launcher = z.infer<typeof LauncherSchema>;

/** One entry of the `cloudTraining.slurm.clusters` setting. */
export const SlurmClusterSchema = z.object({
  /** SSH host (alias from ~/.ssh/config or host name) of the login node. */
  host: z.string().min(1),
  /** Default partition when the job does not name one. */
  partition: z.string().regex(SLURM_WORD).optional(),
  /** A folder on the cluster's shared filesystem (seen by the login and compute nodes): datasets and job folders go here. */
  sharedDir: z.string().min(1),
  /** USD per GPU-hour; 0 for an own cluster. */
  pricePerGpuHour: z.number().nonnegative().default(0),
});
export type SlurmCluster = z.infer<typeof SlurmClusterSchema>;
export const SlurmClustersSettingSchema = z.array(SlurmClusterSchema).default([]);

/**
 * Clusters from the nested `cloudTraining` settings section (the CLI reads it from settings.json).
 * Invalid entries are skipped and reported through `warn`, so one typo does not hide every cluster.
 */
export function slurmClustersFromSection(section: Record<string, unknown>, warn: (m: string) => void = () => {}): SlurmCluster[] {
  const raw = (section.slurm as { clusters?: unknown } | undefined)?.clusters;
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) { warn('cloudTraining.slurm.clusters must be a list'); return []; }
  const out: SlurmCluster[] = [];
  raw.forEach((entry, i) => {
    const r = SlurmClusterSchema.safeParse(entry);
    if (r.success) out.push(r.data);
    else warn(`cloudTraining.slurm.clusters[${i}] ignored: ${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message}`);
  });
  return out;
}

/** Parse a Slurm time limit into seconds (for cost estimates); undefined for UNLIMITED or junk. */
export function timeLimitSeconds(limit: string): number | undefined {
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(limit.trim());
  if (!m) return undefined;
  const [, d, a, b, c] = m;
  const n = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  if (d !== undefined) return ((Number(d) * 24 + Number(a)) * 60 + (n(b) ?? 0)) * 60 + (n(c) ?? 0);
  if (b === undefined) return Number(a) * 60; // bare minutes
  if (c === undefined) return Number(a) * 60 + Number(b); // MM:SS
  return (Number(a) * 60 + Number(b)) * 60 + Number(c); // HH:MM:SS
}

/** The most a job can cost: every GPU of every node for the whole time limit (Slurm ends it there). */
export function maxCostUsd(r: SlurmResources, pricePerGpuHour: number): number | undefined {
  const s = timeLimitSeconds(r.timeLimit);
  if (s === undefined) return undefined;
  return Math.round(r.nodes * r.gpusPerNode * (s / 3600) * pricePerGpuHour * 100) / 100;
}

/** "2 nodes × 4 GPU, 08:00:00" for the hardware column. */
export function describeResources(r: SlurmResources): string {
  const gpu = r.gpusPerNode > 0 ? `${r.gpusPerNode}${r.gpuType ? ` ${r.gpuType}` : ''} GPU` : 'no GPU';
  return `${r.partition ? `${r.partition}: ` : ''}${r.nodes} node${r.nodes === 1 ? '' : 's'} × ${gpu}, ${r.timeLimit}`;
}

/** Fields the user can edit one by one (quick pick), with how to read a typed value. */
export interface ResourceField { key: keyof SlurmResources; label: string; kind: 'int' | 'text' | 'choice' | 'list'; choices?: readonly string[] }
export const RESOURCE_FIELDS: readonly ResourceField[] = [
  { key: 'jobName', label: 'Job name', kind: 'text' },
  { key: 'partition', label: 'Partition', kind: 'text' },
  { key: 'nodes', label: 'Nodes', kind: 'int' },
  { key: 'gpusPerNode', label: 'GPUs per node', kind: 'int' },
  { key: 'gpuType', label: 'GPU type', kind: 'text' },
  { key: 'gpuFlag', label: 'GPU option', kind: 'choice', choices: ['gres', 'gpus-per-node'] },
  { key: 'cpusPerTask', label: 'CPUs per node', kind: 'int' },
  { key: 'memory', label: 'Memory per node', kind: 'text' },
  { key: 'timeLimit', label: 'Time limit', kind: 'text' },
  { key: 'account', label: 'Account', kind: 'text' },
  { key: 'qos', label: 'QOS', kind: 'text' },
  { key: 'extraDirectives', label: 'Extra #SBATCH options', kind: 'list' },
];

/**
 * Apply one typed value to the resources and validate the whole object again.
 * Empty text clears an optional field (or restores the default of a required one).
 */
export function editResource(current: SlurmResources, field: ResourceField, text: string):
  { ok: true; value: SlurmResources } | { ok: false; message: string } {
  const t = text.trim();
  const next: Record<string, unknown> = { ...current };
  if (t === '') delete next[field.key];
  else if (field.kind === 'int') {
    if (!/^\d+$/.test(t)) return { ok: false, message: `${field.label} must be a whole number` };
    next[field.key] = Number(t);
  } else if (field.kind === 'list') next[field.key] = t.split(/\s+(?=--)/).map((s) => s.trim()).filter(Boolean);
  else next[field.key] = t;
  const r = SlurmResourcesSchema.safeParse(next);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { ok: false, message: `${field.label}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, value: r.data };
}

/** Current value of a field as the user would type it. */
export function formatResource(r: SlurmResources, field: ResourceField): string {
  const v = r[field.key];
  if (v === undefined) return '';
  return Array.isArray(v) ? v.join(' ') : String(v);
}
