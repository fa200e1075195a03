import path from 'node:path';
import * as z from 'zod';
import {
  RESULTS_DESTINATION_KEY, checkDeliveryCredentials, deliverJobOutputs, parseResultsOption,
} from '../../core/destinations/job-delivery';
import type { SecretLookup } from '../../core/destinations/schema';
import { isActive, type Job } from '../../core/jobs/schema';
import type {
  CredentialCheck, FinalizeResult, HardwareOption, ProviderCapabilities, ProviderContext, StatusUpdate, SubmitRequest, SubmitResult, TrainingProvider,
} from '../../core/providers/types';
import {
  detectSlurm, listPartitions, observeJob, parseSbatchParsable, readRemoteBytes, scancel, writeRemoteFile,
} from './commands';
import { workspaceKey } from '../ssh/provider';
import { LauncherSchema, SlurmCluster, SlurmResources, SlurmResourcesSchema, describeResources } from './resources';
import { CommandRunner, shq } from './runner';
import { exitRecordPath, generateSbatchScript } from './script';
import { toStatusUpdate } from './state';
import { GPU_SAMPLE_COMMAND, GpuSamplingUnavailable } from '../../core/gpu/samples';

/** A GPU sample step that has not answered in this long is abandoned (`timeout` kills srun, which cancels the step). */
const GPU_STEP_TIMEOUT_S = 30;

/**
 * Why an overlapping nvidia-smi step can never work for this job, from srun's stderr and exit code;
 * undefined for a passing failure (the job ended, the controller was busy, the step timed out).
 */
export function gpuStepRefusal(stderr: string, code: number): string | undefined {
  const line = stderr.split('\n').map((l) => l.trim()).find((l) => l && !/^srun: (Job step|Force Terminated|Step created)/i.test(l)) ?? '';
  if (code === 124 || /already (completed|finished)|Invalid job id|not running|Unable to confirm allocation/i.test(stderr)) return undefined;
  if (/(unrecognized|invalid|unknown) option.*overlap/i.test(stderr)) {
    return 'this cluster\'s srun has no --overlap (Slurm older than 20.11), so a monitoring step cannot share the job\'s node';
  }
  if (code === 127 || /nvidia-smi.*(not found|No such file)|execve\(\).*nvidia-smi/i.test(stderr)) return 'nvidia-smi was not found on the job\'s node';
  if (/denied|not allowed|not permitted|disabled|not supported/i.test(stderr)) return `the cluster refused a monitoring step: ${line}`;
  return undefined;
}

/** `request.options` of a Slurm submission (data options as for the SSH provider). */
export const SlurmSubmitOptionsSchema = z.object({
  resources: SlurmResourcesSchema.prefault({}),
  launcher: LauncherSchema.default('accelerate'),
  /**
   * What to launch (see SbatchScriptOptions.program); defaults to request.command. Placeholders
   * {config} {dataloader} {output_dir} {job_dir} {job_id} {dataset_dir} {datasets_dir} {code_dir}
   * become the remote paths (quoted).
   */
  program: z.string().min(1).optional(),
  setup: z.array(z.string()).default([]),
  /** Remote folder to run in; default the synced code folder, else the job folder. */
  workDir: z.string().min(1).optional(),
  /**
   * A script the user edited by hand: submitted instead of the generated one. PREVIEW_JOB_ID in it
   * becomes the job's id and the sharedDir setting its expanded path (a preview is rendered before both are known).
   */
  script: z.string().min(1).optional(),
  /** Extra sbatch command-line options; they override the script's #SBATCH lines. */
  sbatchArgs: z.array(z.string().regex(/^--?[A-Za-z][\w-]*(=\S*)?$/)).default([]),
  /** Local folders synced to `<workspace dir>/datasets/<id>`; default: the local datasets of the dataloader config. */
  datasets: z.array(z.object({ id: z.string().regex(/^[\w.-]+$/), path: z.string().min(1) })).default([]),
  /** A local folder (training scripts) synced to `<workspace dir>/code` and used as the working directory. */
  codeDir: z.string().min(1).optional(),
  extraExcludes: z.array(z.string()).default([]),
  /** Send datasets through the system `ssh` client when it logs in without a prompt (much faster); false = the built-in client only. */
  systemSsh: z.boolean().default(true),
  /** Copy `{output_dir}` back when the job ends (to outputDir, default `<workspace>/outputs/<job id>`). */
  downloadOutputs: z.boolean().default(true),
  outputDir: z.string().optional(),
  /**
   * Continue a failed/cancelled job: `{output_dir}` is that job's output folder (its checkpoints),
   * `{resume}` becomes ` --resume_from_checkpoint=latest` and CLOUD_TRAINING_RESUME=latest is set.
   */
  resumeFrom: z.object({ outputDir: z.string().min(1), jobId: z.string().optional() }).optional(),
});
export type SlurmSubmitOptions = z.infer<typeof SlurmSubmitOptionsSchema>;

/** What we keep in job.metadata (read back through this schema: history is a boundary). */
export const SlurmJobMetadataSchema = z.object({
  clusterHost: z.string(),
  jobDir: z.string(),
  scriptPath: z.string(),
  outputPath: z.string(),
  nodes: z.number().int().positive(),
  gpusPerNode: z.number().int().nonnegative(),
  pricePerGpuHour: z.number().nonnegative(),
  remoteOutputDir: z.string().optional(),
  localOutputDir: z.string().optional(),
  downloadOutputs: z.boolean().default(true),
  /** The job this one continues (its output folder is ours). */
  resumedFrom: z.string().optional(),
});
export type SlurmJobMetadata = z.infer<typeof SlurmJobMetadataSchema>;

/** Remote paths of one job, known before anything is uploaded (so the preview can show them). */
export interface SlurmJobPaths {
  sharedDir: string;
  /** <sharedDir>/cloud-training/jobs/<job id>: script, env file, configs, log, output/. */
  jobDir: string;
  /** <sharedDir>/cloud-training/<workspace key>: datasets/ and code/, kept between jobs of a workspace. */
  workspaceDir: string;
  /** Placeholder values for the program. */
  values: Record<string, string>;
}

/**
 * Called before the script is written: brings datasets, code and configs to the shared filesystem
 * (the SSH provider's sync) and may add placeholder values (e.g. {dataset_dir}).
 */
export type SlurmStageHook = (args: {
  job: Job; request: SubmitRequest; options: SlurmSubmitOptions; runner: CommandRunner; ctx: ProviderContext; paths: SlurmJobPaths;
}) => Promise<{ values?: Record<string, string> } | void>;

/** Copies a remote folder to this machine (the SSH provider's SFTP download). */
export type SlurmDownloadHook = (runner: CommandRunner, remoteDir: string, localDir: string, ctx: Pick<ProviderContext, 'signal' | 'report'>) =>
  Promise<{ files: number; bytes: number }>;

/** Expand a leading `~` and `$HOME`/`$USER` (also `${…}`) in the sharedDir setting. */
export function expandSharedDir(dir: string, home: string, user: string): string {
  return dir.replace(/^~(?=\/|$)/, home).replace(/\$\{?(HOME|USER)\}?/g, (_, v: string) => (v === 'HOME' ? home : user));
}

export interface SlurmProviderOptions {
  cluster: SlurmCluster;
  /** Opens the connection to the login node (called once, then reused until it fails). */
  connect: (ctx: Pick<ProviderContext, 'signal' | 'prompter' | 'log'>) => Promise<CommandRunner>;
  stage?: SlurmStageHook;
  download?: SlurmDownloadHook;
  /** Secrets of results destinations (SecretStorage in the editor, the environment in the CLI); never stored. */
  secrets?: SecretLookup;
  env?: NodeJS.ProcessEnv;
  /** How long a job must stay unknown to Slurm (no queue entry, no record) before it is reported lost (default 60 s). */
  unknownGraceMs?: number;
}

/** job.metadata key: when Slurm was first seen not to know the job (cleared when it answers again). */
const UNKNOWN_SINCE = 'slurmUnknownSince';
const UNKNOWN_GRACE_MS = 60_000;

/** Stands for the job id in a script rendered before the job exists (the preview). */
export const PREVIEW_JOB_ID = '{job-id}';

/** Most log bytes fetched per poll, so one slow poll cannot pull gigabytes. */
const LOG_CHUNK = 1024 * 1024;

export class SlurmProvider implements TrainingProvider {
  readonly id = 'slurm' as const;
  readonly displayName: string;
  readonly capabilities: ProviderCapabilities = {
    costTracking: true, liveLogs: true, cancel: true, resume: true, webhooks: false, listRemote: false, uploadsData: true,
  };
  private runner: Promise<CommandRunner> | undefined;
  private current: CommandRunner | undefined;

  constructor(private readonly options: SlurmProviderOptions) {
    this.displayName = `Slurm (${options.cluster.host})`;
  }

  private async conn(ctx: Pick<ProviderContext, 'signal' | 'prompter' | 'log'> = {}): Promise<CommandRunner> {
    if (this.current?.isClosed?.()) {
      ctx.log?.(`Connection to ${this.options.cluster.host} was lost; reconnecting`);
      this.runner = undefined;
      this.current = undefined;
    }
    if (!this.runner) {
      const p = this.options.connect(ctx);
      this.runner = p;
      p.then((r) => { if (this.runner === p) this.current = r; }, () => { if (this.runner === p) this.runner = undefined; }); // a failed connect is retried next call
    }
    return this.runner;
  }

  async validateCredentials(signal?: AbortSignal): Promise<CredentialCheck> {
    try {
      const d = await detectSlurm(await this.conn({ signal }), signal);
      return { ok: d.isSlurm, account: this.options.cluster.host, message: d.isSlurm ? `${this.options.cluster.host}: ${d.message}` : d.message };
    } catch (e) {
      return { ok: false, message: `Cannot reach ${this.options.cluster.host}: ${(e as Error).message}` };
    }
  }

  async listHardware(): Promise<HardwareOption[]> {
    const parts = await listPartitions(await this.conn());
    const price = this.options.cluster.pricePerGpuHour;
    return parts.map((p) => ({
      id: p.name,
      label: `${p.name}${p.isDefault ? ' (default)' : ''}`,
      detail: `${p.nodes} nodes${p.gres && p.gres !== '(null)' ? `, ${p.gres}` : ''}, max ${p.timeLimit}${p.available ? '' : ', DOWN'}`,
      ...(price > 0 ? { pricePerHour: price } : {}),
    }));
  }

  /** Where this job's files go on the cluster, under the (expanded) shared folder. */
  paths(job: Pick<Job, 'id' | 'workspace'>, request: SubmitRequest, sharedDir = this.options.cluster.sharedDir): SlurmJobPaths {
    const o = SlurmSubmitOptionsSchema.parse(request.options ?? {});
    const root = `${sharedDir.replace(/\/+$/, '')}/cloud-training`;
    const jobDir = `${root}/jobs/${job.id}`;
    const workspaceDir = `${root}/${workspaceKey(job.workspace ?? request.cwd)}`;
    const outputDir = o.resumeFrom?.outputDir ?? `${jobDir}/output`;
    const values: Record<string, string> = { job_id: job.id, job_dir: jobDir, output_dir: outputDir, datasets_dir: `${workspaceDir}/datasets` };
    if (request.trainingConfigPath) values.config = `${jobDir}/config${path.extname(request.trainingConfigPath) || '.json'}`;
    if (request.dataloaderConfigPath) values.dataloader = `${jobDir}/dataloader.json`;
    if (o.codeDir) values.code_dir = `${workspaceDir}/code`;
    return { sharedDir, jobDir, workspaceDir, values };
  }

  /** sharedDir with `~`, `$HOME` and `$USER` expanded as the login node sees them (everything we run quotes paths). */
  private async sharedDir(runner: CommandRunner, signal?: AbortSignal): Promise<string> {
    const raw = this.options.cluster.sharedDir;
    if (!/^~|\$\{?(HOME|USER)\b/.test(raw)) return raw;
    const r = await runner.exec('printf "%s\\n%s\\n" "$HOME" "$(id -un)"', { signal });
    const [home = '', user = ''] = r.stdout.split('\n');
    if (r.code !== 0 || !home.startsWith('/')) throw new Error(`Cannot find the home folder on ${this.options.cluster.host}: ${r.stderr.trim()}`);
    return expandSharedDir(raw, home, user);
  }

  /** Resources with the cluster's default partition filled in. */
  resolveResources(input: unknown): SlurmResources {
    const r = SlurmResourcesSchema.parse(input ?? {});
    return r.partition || !this.options.cluster.partition ? r : { ...r, partition: this.options.cluster.partition };
  }

  /**
   * The script `submit` would write for this job and request: what the user sees before submitting.
   * Without `paths` (the preview) the shared folder is shown as configured.
   */
  renderScript(job: Pick<Job, 'id' | 'workspace'>, request: SubmitRequest, paths = this.paths(job, request)): string {
    const o = SlurmSubmitOptionsSchema.parse(request.options ?? {});
    if (o.script) {
      const s = o.script.split(PREVIEW_JOB_ID).join(job.id);
      const raw = this.options.cluster.sharedDir;
      return paths.sharedDir !== raw ? s.split(raw).join(paths.sharedDir) : s;
    }
    const program = withResume(o.program ?? request.command, !!o.resumeFrom);
    if (!program) throw new Error('Nothing to run: give a command (or options.program)');
    const envNames = Object.keys(envOf(request, o));
    return generateSbatchScript({
      resources: this.resolveResources(o.resources),
      jobDir: paths.jobDir,
      workDir: o.workDir ?? paths.values.code_dir ?? paths.jobDir,
      launcher: o.launcher,
      program: fillPlaceholders(program, paths.values),
      setup: o.setup,
      envFile: envNames.length ? `${paths.jobDir}/job.env` : undefined,
      envNames,
      jobId: job.id,
    });
  }

  async submit(job: Job, request: SubmitRequest, ctx: ProviderContext): Promise<SubmitResult> {
    const signal = ctx.signal;
    const o = SlurmSubmitOptionsSchema.parse(request.options ?? {});
    const resources = this.resolveResources(o.resources);
    // `options.results`: where a succeeded job's downloaded outputs are pushed; checked before anything is sent.
    const results = parseResultsOption(request.options);
    await checkDeliveryCredentials(results, this.options);
    ctx.report?.(`Connecting to ${this.options.cluster.host}…`);
    const runner = await this.conn(ctx);
    const paths = this.paths(job, request, await this.sharedDir(runner, signal));
    const { jobDir } = paths;
    const mk = await runner.exec(`mkdir -p ${shq(jobDir)} ${shq(paths.values.output_dir!)}`, { signal });
    if (mk.code !== 0) throw new Error(`Cannot create ${jobDir} on ${this.options.cluster.host}: ${mk.stderr.trim()}`);

    const staged = (await this.options.stage?.({ job, request, options: o, runner, ctx, paths })) ?? {};
    Object.assign(paths.values, staged.values);
    signal?.throwIfAborted();

    const env = envOf(request, o);
    const names = Object.keys(env);
    for (const k of names) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`Not an environment variable name: ${k}`);
    if (names.length) {
      // Values stay out of the script (it is shown and kept); the env file is readable by the user only.
      const body = names.map((k) => `${k}=${shq(env[k]!)}`).join('\n') + '\n';
      await writeRemoteFile(runner, `${jobDir}/job.env`, body, { private: true, signal });
    }
    const script = this.renderScript(job, request, paths);
    const scriptPath = `${jobDir}/job.sbatch`;
    await writeRemoteFile(runner, scriptPath, script, { signal });
    signal?.throwIfAborted();

    // From here the job exists once sbatch returns: no more abort checks.
    ctx.report?.('Submitting with sbatch…');
    const args = o.sbatchArgs.map(shq).join(' ');
    const r = await runner.exec(`cd ${shq(jobDir)} && sbatch --parsable ${args} ${shq(scriptPath)}`);
    if (r.code !== 0) throw new Error(`sbatch refused the job: ${(r.stderr || r.stdout).trim().slice(0, 500)}`);
    const slurmId = parseSbatchParsable(r.stdout);
    const outputPath = resolveOutputPath(scriptOutputPath(script) ?? 'slurm-%j.out', slurmId, resources.jobName, jobDir);
    const workspace = job.workspace ?? request.cwd;
    const metadata: SlurmJobMetadata = {
      clusterHost: this.options.cluster.host, jobDir, scriptPath, outputPath,
      nodes: resources.nodes, gpusPerNode: resources.gpusPerNode, pricePerGpuHour: this.options.cluster.pricePerGpuHour,
      remoteOutputDir: paths.values.output_dir, downloadOutputs: o.downloadOutputs, resumedFrom: o.resumeFrom?.jobId,
      // Without a workspace the outputs still come home when they are to be delivered from here.
      localOutputDir: o.outputDir ?? (workspace ? path.join(workspace, 'outputs', job.id) : results ? path.join(ctx.dataHome, 'outputs', job.id) : undefined),
    };
    ctx.log?.(`Submitted Slurm job ${slurmId} (${describeResources(resources)}); log ${outputPath}`);
    return {
      providerJobId: slurmId, status: 'queued', providerStatus: 'PENDING',
      metadata: { ...metadata, resources, ...(results ? { [RESULTS_DESTINATION_KEY]: results } : {}) },
    };
  }

  async status(job: Job, ctx: ProviderContext): Promise<StatusUpdate> {
    const id = requireId(job);
    const meta = readMetadata(job);
    const { observation, unknown, recordedExit } = await observeJob(await this.conn(ctx), id, ctx.signal, exitRecordPath(meta.jobDir, id));
    if (observation && !unknown) {
      const update = toStatusUpdate(observation, { nodes: meta.nodes, gpusPerNode: meta.gpusPerNode, pricePerGpuHour: meta.pricePerGpuHour });
      return job.metadata[UNKNOWN_SINCE] === undefined ? update : { ...update, metadata: { ...update.metadata, [UNKNOWN_SINCE]: undefined } };
    }
    // Slurm has forgotten the job (no accounting, past MinJobAge): the script's own record says how it ended.
    if (recordedExit === 0) return { status: 'succeeded', providerStatus: 'exited 0', statusDetail: 'Completed (from the job\'s exit record)' };
    if (recordedExit !== undefined) {
      return job.cancelRequestedAt
        ? { status: 'cancelled', providerStatus: `exited ${recordedExit}`, statusDetail: 'Cancelled' }
        : { status: 'failed', providerStatus: `exited ${recordedExit}`, statusDetail: `Failed: exit code ${recordedExit}`, error: `Training command exited with code ${recordedExit}` };
    }
    if (job.cancelRequestedAt) return { status: 'cancelled', statusDetail: 'Cancelled (Slurm no longer knows the job)' };
    // Not known right now is not "lost": a controller restart or a lagging database can hide a job for a
    // while. Lost only when it stays unknown across looks `unknownGraceMs` apart; active meanwhile.
    const since = typeof job.metadata[UNKNOWN_SINCE] === 'string' ? Date.parse(job.metadata[UNKNOWN_SINCE] as string) : NaN;
    if (Number.isFinite(since) && Date.now() - since >= (this.options.unknownGraceMs ?? UNKNOWN_GRACE_MS)) {
      return { status: 'failed', statusDetail: 'Slurm no longer knows this job and has no accounting record', error: 'Job record lost' };
    }
    return {
      status: isActive(job.status) ? job.status : 'running',
      statusDetail: 'Slurm does not list the job right now; waiting for its final state',
      ...(Number.isFinite(since) ? {} : { metadata: { [UNKNOWN_SINCE]: new Date().toISOString() } }),
    };
  }

  /**
   * nvidia-smi on the job's first node, as a step that overlaps the running one (`srun --overlap
   * --jobid`, Slurm ≥ 20.11), through the login connection already held. Clusters that refuse such a
   * step, or nodes without nvidia-smi, throw GpuSamplingUnavailable with srun's reason, which the job
   * then shows instead of a chart; a job that just ended, or a slow step, only skips this sample.
   */
  async sampleGpus(job: Job, ctx: ProviderContext): Promise<string | undefined> {
    const id = requireId(job);
    const r = await (await this.conn(ctx)).exec(
      `timeout ${GPU_STEP_TIMEOUT_S} srun --overlap --jobid=${shq(id)} --nodes=1 --ntasks=1 --quiet ${GPU_SAMPLE_COMMAND}`, { signal: ctx.signal });
    if (r.code === 0) return r.stdout;
    const why = gpuStepRefusal(r.stderr, r.code);
    if (why) throw new GpuSamplingUnavailable(why);
    return undefined;
  }

  async fetchLogs(job: Job, offset: number, ctx: ProviderContext): Promise<Buffer> {
    const meta = readMetadata(job);
    return readRemoteBytes(await this.conn(ctx), meta.outputPath, offset, LOG_CHUNK, ctx.signal);
  }

  async cancel(job: Job, ctx: ProviderContext): Promise<void> {
    if (!job.providerJobId) return; // never reached sbatch
    await scancel(await this.conn(ctx), requireId(job), ctx.signal);
  }

  /**
   * Bring `{output_dir}` home (when asked and there is a download hook), deliver it to the job's
   * results destination (a succeeded job only; a failed delivery is recorded, the downloaded files
   * stay) and point at the job folder.
   */
  async finalize(job: Job, ctx: ProviderContext): Promise<FinalizeResult> {
    const meta = readMetadata(job);
    const outputs: Job['outputs'] = [];
    let local: string | undefined;
    let noFolderReason = 'its outputs were not downloaded (downloadOutputs is off, or the job has no local output folder)';
    if (meta.downloadOutputs && meta.remoteOutputDir && meta.localOutputDir && this.options.download) {
      const got = await this.options.download(await this.conn(ctx), meta.remoteOutputDir, meta.localOutputDir, ctx);
      local = meta.localOutputDir;
      if (got.files) outputs.push({ kind: 'directory', uri: meta.localOutputDir, label: `Outputs (${got.files} files)`, bytes: got.bytes });
    } else if (!this.options.download) {
      noFolderReason = 'this Slurm connection cannot download outputs';
    }
    const delivery = await deliverJobOutputs({
      job, folder: local, noFolderReason, deps: this.options, signal: ctx.signal, log: ctx.log, report: ctx.report,
    });
    if (delivery) outputs.push(...delivery.outputs);
    outputs.push({ kind: 'directory', uri: `ssh://${this.options.cluster.host}${meta.jobDir}`, label: 'Job folder on the cluster' });
    return delivery ? { outputs, metadata: delivery.metadata, statusDetail: delivery.statusDetail } : { outputs };
  }

  async dispose(): Promise<void> {
    const r = this.runner;
    this.runner = undefined;
    this.current = undefined;
    if (r) await (await r.catch(() => undefined))?.dispose?.();
  }
}

function requireId(job: Job): string {
  if (!job.providerJobId) throw new Error(`Job ${job.id} has no Slurm job id yet`);
  return job.providerJobId;
}

function readMetadata(job: Job): SlurmJobMetadata {
  const r = SlurmJobMetadataSchema.safeParse(job.metadata);
  if (!r.success) throw new Error(`Job ${job.id} is missing its Slurm metadata (${r.error.issues[0]?.path.join('.')})`);
  return r.data;
}

/** `{resume}`: the "continue from the latest checkpoint" arguments on a resumed job, nothing otherwise (raw, not quoted). */
function withResume(program: string | undefined, resume: boolean): string | undefined {
  return program?.replace(/(?<!\$)\{resume\}/g, resume ? ' --resume_from_checkpoint=latest' : '');
}

/** The job's environment, with CLOUD_TRAINING_RESUME=latest on a resumed job (for scripts that read it). */
function envOf(request: SubmitRequest, o: SlurmSubmitOptions): Record<string, string> {
  return o.resumeFrom ? { ...request.env, CLOUD_TRAINING_RESUME: 'latest' } : (request.env ?? {});
}

/** The request that resumes `job` (a failed or cancelled Slurm job) into its own output folder. */
export function slurmResumeRequest(job: Job): SubmitRequest {
  if (job.status !== 'failed' && job.status !== 'cancelled') throw new Error(`Only failed or cancelled jobs can be resumed (this one is ${job.status})`);
  const meta = readMetadata(job);
  if (!meta.remoteOutputDir) throw new Error(`Job ${job.id} has no output folder on the cluster to resume from`);
  const sub = (job.submission ?? {}) as { command?: string; cwd?: string; hardware?: string; options?: Record<string, unknown>; env?: Record<string, string> };
  if (!sub.command && !sub.options?.program) {
    throw new Error(`Job ${job.id} ran a hand-edited sbatch script: a resume needs the training command (submit it again with the command and {resume} where the resume arguments go)`);
  }
  return {
    command: sub.command, cwd: sub.cwd, hardware: sub.hardware ?? job.hardware, env: sub.env,
    trainingConfigPath: job.configPaths.training, dataloaderConfigPath: job.configPaths.dataloader,
    // A hand-edited script is the old job's; a resume regenerates it from the command.
    options: { ...withoutKeys(sub.options ?? {}, ['script']), resumeFrom: { outputDir: meta.remoteOutputDir, jobId: job.id } },
  };
}

function withoutKeys(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

const PLACEHOLDER = /(?<!\$)\{(config|dataloader|output_dir|job_dir|job_id|dataset_dir|datasets_dir|code_dir)\}/g;

/** Replace our {placeholders} by quoted remote paths; `${VAR}` shell expansions are left alone. */
export function fillPlaceholders(program: string, values: Record<string, string>): string {
  return program.replace(PLACEHOLDER, (whole, key: string) => (values[key] === undefined ? whole : shq(values[key]!)));
}

/** The `--output`/`-o` path an sbatch script names, if any. */
export function scriptOutputPath(script: string): string | undefined {
  const m = /^#SBATCH\s+(?:--output[= ]|-o\s*)(\S+)/m.exec(script);
  return m?.[1];
}

/** Expand the filename patterns sbatch uses (%j job id, %x name, %A/%a array, %%), relative to the submit folder. */
export function resolveOutputPath(pattern: string, jobId: string, jobName: string, submitDir: string): string {
  const p = pattern.replace(/%(%|j|x|A|a|u|N|n|t|s)/g, (_, c: string) =>
    c === '%' ? '%' : c === 'j' || c === 'A' ? jobId : c === 'x' ? jobName : c === 'a' ? '4294967294' : c === 'N' ? '' : '0');
  return p.startsWith('/') ? p : `${submitDir.replace(/\/+$/, '')}/${p}`;
}

