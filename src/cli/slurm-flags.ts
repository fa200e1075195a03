import { LauncherSchema, SlurmResourcesSchema, type Launcher, type SlurmResourcesInput } from '../providers/slurm/resources';
import { UsageError } from './io';

export interface SlurmFlags {
  partition?: string;
  nodes?: string;
  'gpus-per-node'?: string;
  'cpus-per-task'?: string;
  mem?: string;
  time?: string;
}

/** parseArgs options of `cloudtrain submit --provider slurm`. */
export const SLURM_OPTIONS = {
  partition: { type: 'string' },
  nodes: { type: 'string' },
  'gpus-per-node': { type: 'string' },
  'cpus-per-task': { type: 'string' },
  mem: { type: 'string' },
  time: { type: 'string' },
  launcher: { type: 'string' },
} as const;

export const SLURM_USAGE = '[--partition P] [--nodes N] [--gpus-per-node N] [--cpus-per-task N] [--mem M] [--time T] [--launcher L]';

export const SLURM_HELP = `Slurm resources (--provider slurm only; each becomes one #SBATCH line; unset = the defaults below):
  --partition P          partition (default: the cluster's partition, or the one in --hardware <host>/<partition>)
  --nodes N              nodes (default 1)
  --gpus-per-node N      GPUs per node, 0 for none (default 1)
  --cpus-per-task N      CPUs per node (one task per node; default 8)
  --mem M                memory per node: 64G, 512M, or 0 for all of it (default: the cluster's)
  --time T               time limit: minutes, HH:MM:SS or D-HH:MM:SS (default 04:00:00)
  --launcher L           accelerate (default: --command is the script and its arguments for
                         \`accelerate launch\`), torchrun (the same for torchrun), or srun (--command runs
                         as it is on every node)`;

/** Flag → the SlurmResourcesSchema field it sets, whether it is a whole number, and an example. */
const FLAGS: ReadonlyArray<{ flag: keyof SlurmFlags; key: keyof SlurmResourcesInput; int: boolean; example: string }> = [
  { flag: 'partition', key: 'partition', int: false, example: '--partition gpu' },
  { flag: 'nodes', key: 'nodes', int: true, example: '--nodes 2' },
  { flag: 'gpus-per-node', key: 'gpusPerNode', int: true, example: '--gpus-per-node 4' },
  { flag: 'cpus-per-task', key: 'cpusPerTask', int: true, example: '--cpus-per-task 16' },
  { flag: 'mem', key: 'memory', int: false, example: '--mem 64G' },
  { flag: 'time', key: 'timeLimit', int: false, example: '--time 08:00:00' },
];

/**
 * The Slurm resource flags → `options.resources` of a Slurm submission (validated with
 * SlurmResourcesSchema, the same schema the editor's form uses), undefined when none was given.
 * Errors name the flag, the problem and an example, on one line (exit 2). The result holds only the
 * fields the user gave, so the provider still fills in its defaults and the cluster's partition.
 */
export function parseSlurmFlags(flags: SlurmFlags, provider: string): Partial<SlurmResourcesInput> | undefined {
  const given = FLAGS.filter((f) => flags[f.flag] !== undefined);
  if (!given.length) return undefined;
  if (provider !== 'slurm') {
    throw new UsageError(`--${given[0]!.flag} only applies to --provider slurm (e.g. cloudtrain submit --provider slurm ${given[0]!.example})`);
  }
  const out: Record<string, unknown> = {};
  for (const f of given) {
    const raw = flags[f.flag]!.trim();
    if (raw === '') throw new UsageError(`--${f.flag}: is empty (e.g. ${f.example})`);
    if (f.int) {
      if (!/^\d+$/.test(raw)) throw new UsageError(`--${f.flag}: "${raw}" is not a whole number (e.g. ${f.example})`);
      out[f.key] = Number(raw);
    } else out[f.key] = raw;
  }
  const r = SlurmResourcesSchema.safeParse(out);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const f = FLAGS.find((x) => x.key === issue.path[0]) ?? given[0]!;
    throw new UsageError(`--${f.flag}: "${flags[f.flag]}" is not valid: ${describeIssue(issue)} (e.g. ${f.example})`);
  }
  return out as Partial<SlurmResourcesInput>;
}

function describeIssue(issue: { code: string; message: string; minimum?: unknown; maximum?: unknown }): string {
  if (issue.code === 'too_small' && issue.minimum !== undefined) return `must be at least ${String(issue.minimum)}`;
  if (issue.code === 'too_big' && issue.maximum !== undefined) return `must be at most ${String(issue.maximum)}`;
  // Only the partition's pattern has no message of its own in the schema.
  if (/^Invalid/.test(issue.message)) return 'letters, digits and _ . : + - only';
  return issue.message;
}

/** `--launcher` → options.launcher of a Slurm submission (undefined when not given). */
export function parseLauncherFlag(value: string | undefined, provider: string): Launcher | undefined {
  if (value === undefined) return undefined;
  if (provider !== 'slurm') throw new UsageError('--launcher only applies to --provider slurm (e.g. cloudtrain submit --provider slurm --launcher srun)');
  const r = LauncherSchema.safeParse(value.trim());
  if (!r.success) throw new UsageError(`--launcher: "${value}" is not one of ${LauncherSchema.options.join(', ')} (e.g. --launcher srun)`);
  return r.data;
}
