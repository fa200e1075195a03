import { shq } from './runner';
import type { Launcher, SlurmResources } from './resources';

export interface SbatchScriptOptions {
  resources: SlurmResources;
  /** The job's own folder on the shared filesystem (script, env file, logs). */
  jobDir: string;
  /** Folder the training runs in (the synced workspace on the shared filesystem). */
  workDir: string;
  launcher: Launcher;
  /**
   * What to launch: for torchrun/accelerate the script and its arguments ("train.py --config c.json"),
   * for srun the whole command. A shell fragment, run by bash on every node.
   */
  program: string;
  /** Lines run on the batch host before launching (module load, venv activation). */
  setup?: readonly string[];
  /** File of KEY=value lines sourced before launch (kept out of the script: it may hold tokens). */
  envFile?: string;
  /** Names defined in envFile, listed in a comment so the script shows what it gets. */
  envNames?: readonly string[];
  /** Defaults to <jobDir>/slurm-%j.out. */
  outputPath?: string;
  /** Defaults to none: stderr then goes to the output file, so the log we tail has tracebacks and tqdm bars too. */
  errorPath?: string;
  /** Our job id, for the header comment. */
  jobId?: string;
}

export const defaultOutputPath = (jobDir: string): string => `${jobDir.replace(/\/+$/, '')}/slurm-%j.out`;

/** Where the generated script records how it ended (`exit_code.<slurm id>`): read only once Slurm has forgotten the job. */
export const exitRecordPath = (jobDir: string, slurmId: string): string => `${jobDir.replace(/\/+$/, '')}/exit_code.${slurmId}`;

/**
 * Lines that record the script's end in exitRecordPath, atomically (temp + rename): 0 only after the
 * launch line returned 0, a failing command's code from the EXIT trap. A signal (scancel, time limit)
 * records nothing (bash reports $? = 0 in the trap then), so it can never pass for a success.
 */
function exitRecordLines(jobDir: string): { start: string[]; end: string[] } {
  return {
    start: [
      `ct_exit=${shq(jobDir.replace(/\/+$/, ''))}/exit_code."$SLURM_JOB_ID"`,
      'ct_record_exit() { printf \'%s\\n\' "$1" > "$ct_exit.tmp" && mv -f "$ct_exit.tmp" "$ct_exit"; }',
      'trap \'ct_code=$?; [ "$ct_code" -eq 0 ] || ct_record_exit "$ct_code"\' EXIT',
    ],
    end: ['ct_record_exit 0'],
  };
}

/** The `#SBATCH` lines for these resources (without the output/error paths). */
export function sbatchDirectives(r: SlurmResources): string[] {
  const d = [`--job-name=${r.jobName}`];
  if (r.partition) d.push(`--partition=${r.partition}`);
  if (r.account) d.push(`--account=${r.account}`);
  if (r.qos) d.push(`--qos=${r.qos}`);
  // One task per node: the launcher on each node starts one process per GPU.
  d.push(`--nodes=${r.nodes}`, '--ntasks-per-node=1', `--cpus-per-task=${r.cpusPerTask}`);
  if (r.gpusPerNode > 0) {
    const spec = `${r.gpuType ? `${r.gpuType}:` : ''}${r.gpusPerNode}`;
    d.push(r.gpuFlag === 'gres' ? `--gres=gpu:${spec}` : `--gpus-per-node=${spec}`);
  }
  if (r.memory) d.push(`--mem=${r.memory}`);
  d.push(`--time=${r.timeLimit}`);
  d.push(...r.extraDirectives);
  return d;
}

/**
 * The command each srun task runs. It is single-quoted into `bash -c`, so the SLURM_* variables expand
 * inside each task: the task on the k-th node gets SLURM_PROCID=k (one task per node), which is the
 * node rank; SLURM_NTASKS is the number of nodes.
 */
export function taskCommand(launcher: Launcher, program: string, gpusPerNode: number, nodes: number): string {
  const perNode = Math.max(1, gpusPerNode);
  switch (launcher) {
    case 'torchrun':
      return `exec torchrun --nnodes="$SLURM_NTASKS" --nproc_per_node=${perNode} --node_rank="$SLURM_PROCID" ` +
        `--master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" ${program}`;
    case 'accelerate':
      return `exec accelerate launch --num_machines="$SLURM_NTASKS" --num_processes="$((SLURM_NTASKS * ${perNode}))" ` +
        `--machine_rank="$SLURM_PROCID" --main_process_ip="$MASTER_ADDR" --main_process_port="$MASTER_PORT"` +
        `${gpusPerNode > 0 && perNode * nodes > 1 ? ' --multi_gpu' : ''} ${program}`;
    case 'srun':
      return `export RANK="$SLURM_PROCID" WORLD_SIZE="$SLURM_NTASKS" LOCAL_RANK="$SLURM_LOCALID"; ${program}`;
  }
}

/** The srun line that starts `taskCommand` on every node of the allocation. */
export function launchLine(launcher: Launcher, program: string, r: SlurmResources): string {
  // srun no longer inherits --cpus-per-task from sbatch (Slurm 22.05), so pass it on.
  return `srun --cpus-per-task="$SLURM_CPUS_PER_TASK" --kill-on-bad-exit=1 bash -c ${shq(taskCommand(launcher, program, r.gpusPerNode, r.nodes))}`;
}

/** The whole sbatch script, ready to be shown, edited in its resources, and submitted. */
export function generateSbatchScript(o: SbatchScriptOptions): string {
  const r = o.resources;
  const out = o.outputPath ?? defaultOutputPath(o.jobDir);
  const record = exitRecordLines(o.jobDir);
  const lines = [
    '#!/bin/bash',
    `# Generated by Cloud Training${o.jobId ? ` for job ${o.jobId}` : ''}. Change resources in the editor's form, not here.`,
    ...sbatchDirectives(r).map((x) => `#SBATCH ${x}`),
    `#SBATCH --output=${out}`,
    ...(o.errorPath ? [`#SBATCH --error=${o.errorPath}`] : []),
    '',
    // No `set -u`: venv/conda activation scripts read unset variables.
    'set -eo pipefail',
    '# How this script ended, for when Slurm has forgotten the job (no accounting, past MinJobAge).',
    ...record.start,
    `cd ${shq(o.workDir)}`,
  ];
  if (o.envFile) {
    if (o.envNames?.length) lines.push(`# Environment: ${o.envNames.join(', ')}`);
    lines.push(`set -a; . ${shq(o.envFile)}; set +a`);
  }
  lines.push(...(o.setup ?? []));
  lines.push(
    '',
    '# The first node of the allocation hosts the rendezvous; the port follows the job id so two jobs sharing a node do not collide.',
    'export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)"',
    'export MASTER_PORT="$((20000 + SLURM_JOB_ID % 20000))"',
    'echo "[cloud-training] job $SLURM_JOB_ID: $SLURM_JOB_NUM_NODES node(s) $SLURM_JOB_NODELIST, master $MASTER_ADDR:$MASTER_PORT"',
    launchLine(o.launcher, o.program, r),
    ...record.end,
    '',
  );
  return lines.join('\n');
}
