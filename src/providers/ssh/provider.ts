import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  RESULTS_DESTINATION_KEY, checkDeliveryCredentials, deliverJobOutputs, parseResultsOption,
} from '../../core/destinations/job-delivery';
import type { SecretLookup } from '../../core/destinations/schema';
import type { Job, JobOutput } from '../../core/jobs/schema';
import { mapLimit } from '../../core/packaging/abort';
import type {
  CredentialCheck, FinalizeResult, HardwareOption, ProviderCapabilities, ProviderContext, StatusUpdate, SubmitRequest, SubmitResult, SyncedFolder, TrainingProvider,
} from '../../core/providers/types';
import { SshConnection } from './connection';
import { GPU_SAMPLE_COMMAND } from '../../core/gpu/samples';
import { checkGpus, describeGpus } from './gpu';
import { listHostChoices, resolveSshTarget, type HostSources } from './hosts';
import { SshJobMetadataSchema, SshSubmitOptionsSchema, type SshJobMetadata } from './options';
import { killRun, launchRun, readLog, readRunState } from './remote-job';
import { confirmGone } from '../run-observation';
import { absoluteRemote, posix, remoteJoin, shellQuote } from './remote-shell';
import { syncDirectory } from './sync';
import { buildCommand, simpleTunerConfig } from './templates';
import { isDisabled } from '../../core/config/simpletuner';

export interface SshProviderOptions {
  /** Settings hosts, ssh config location, known_hosts override (tests). Read on every connect. */
  hostSources: () => HostSources | Promise<HostSources>;
  /** DataLayout.cacheDir: the shared hash cache for dataset manifests. */
  cacheDir: string;
  /** Seconds between TERM and KILL on cancel. */
  killGraceSeconds?: number;
  /** Secrets of results destinations (SecretStorage in the editor, the environment in the CLI); never stored. */
  secrets?: SecretLookup;
  env?: NodeJS.ProcessEnv;
  /** Wait before the second look at a run that seemed gone without an exit code (default 500 ms). */
  goneGraceMs?: number;
  /** How a run's state is read (default: one round trip, remote-job.ts); tests wrap it to act between looks. */
  readRunState?: typeof readRunState;
}

/**
 * F10: train on your own GPU machine over SSH. Datasets are synced by content, the command runs
 * detached in a job folder on the host (see remote-job.ts), and every later call (status, logs,
 * cancel, outputs) reconnects as needed and reads that folder — nothing depends on the connection
 * that started the job staying up.
 */
export class SshProvider implements TrainingProvider {
  readonly id = 'ssh' as const;
  readonly displayName = 'SSH host';
  readonly capabilities: ProviderCapabilities = {
    costTracking: false, liveLogs: true, cancel: true, resume: true, webhooks: false, listRemote: false, uploadsData: true,
  };
  private readonly connections = new Map<string, Promise<SshConnection>>();

  constructor(private readonly opts: SshProviderOptions) {}

  /** A live, verified connection to `host` (reused; re-established after a drop). */
  async connection(host: string, ctx: Pick<ProviderContext, 'prompter' | 'signal' | 'log'> = {}): Promise<SshConnection> {
    // Concurrent callers share one connection; a dropped one is replaced exactly once.
    for (let existing = this.connections.get(host); existing; existing = this.connections.get(host)) {
      const conn = await existing.catch(() => undefined);
      if (conn && !conn.closed) return conn;
      if (this.connections.get(host) === existing) this.connections.delete(host);
    }
    const p = (async () => {
      const target = await resolveSshTarget(host, await this.opts.hostSources());
      const conn = await SshConnection.connect(target, { prompter: ctx.prompter, signal: ctx.signal, log: ctx.log });
      conn.onClose(() => {
        if (this.connections.get(host) === p) this.connections.delete(host);
      });
      return conn;
    })();
    this.connections.set(host, p);
    p.catch(() => {
      if (this.connections.get(host) === p) this.connections.delete(host);
    });
    return p;
  }

  async validateCredentials(): Promise<CredentialCheck> {
    const hosts = await listHostChoices(await this.opts.hostSources());
    if (!hosts.length) return { ok: false, message: 'No SSH hosts: add one to ~/.ssh/config or with "Cloud Training: Add SSH Host"' };
    return { ok: true, message: `${hosts.length} SSH host(s) available` };
  }

  async listHardware(): Promise<HardwareOption[]> {
    return (await listHostChoices(await this.opts.hostSources())).map((h) => ({ id: h.name, label: h.name, detail: h.detail, pricePerHour: 0 }));
  }

  foldersToSync(request: SubmitRequest, workspace: string | undefined): Promise<SyncedFolder[]> {
    // Only what decides the folders: the host may still be unset here (it comes from the hardware pick).
    return foldersToSync(request, SshSubmitOptionsSchema.pick({ datasets: true, codeDir: true }).parse(request.options ?? {}), workspace ?? request.cwd);
  }

  async submit(job: Job, request: SubmitRequest, ctx: ProviderContext): Promise<SubmitResult> {
    const parsed = SshSubmitOptionsSchema.safeParse({ host: request.hardware, ...request.options });
    if (!parsed.success) throw new Error(`Invalid SSH job options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const o = parsed.data;
    const signal = ctx.signal;
    // `options.results`: where a succeeded job's downloaded outputs are pushed; checked before anything is sent.
    const results = parseResultsOption(request.options);
    await checkDeliveryCredentials(results, this.opts);
    ctx.report?.(`Connecting to ${o.host}…`);
    const conn = await this.connection(o.host, ctx);

    const gpus = await checkGpus(conn, signal);
    ctx.log?.(describeGpus(gpus));
    if (gpus.warning) ctx.log?.(`Warning: ${gpus.warning}`);

    const sftp = await conn.sftp();
    const base = await absoluteRemote(sftp, o.remoteBaseDir);
    const workspace = job.workspace ?? request.cwd;
    const wsDir = remoteJoin(base, o.workspaceKey ?? workspaceKey(workspace));
    const jobRoot = o.resumeFrom?.jobRoot ?? remoteJoin(wsDir, 'jobs', job.id);
    const runDir = remoteJoin(jobRoot, 'runs', job.id);
    const remoteOutputDir = remoteJoin(jobRoot, 'output');

    // Datasets: explicit, else the local datasets named by the dataloader config.
    const dataloader = request.dataloaderConfigPath ? await readDataloader(request.dataloaderConfigPath) : undefined;
    const datasets = o.datasets.length ? o.datasets : (dataloader ? localDatasetsOf(dataloader, path.dirname(request.dataloaderConfigPath!), workspace) : []);
    const remoteDatasets = new Map<string, string>();
    for (const [i, d] of datasets.entries()) {
      const local = path.resolve(workspace ?? process.cwd(), d.path);
      const remote = remoteJoin(wsDir, 'datasets', d.id);
      const r = await syncDirectory(conn, local, remote, {
        cacheDir: this.opts.cacheDir, extraExcludes: o.extraExcludes, signal, openSsh: o.systemSsh, log: ctx.log,
        report: (m, f) => ctx.report?.(`Dataset ${d.id} (${i + 1}/${datasets.length}): ${m}`, f),
      });
      ctx.log?.(`Dataset ${d.id}: ${r.uploaded.length} sent, ${r.deleted.length} removed, ${r.unchanged} unchanged, ${r.excluded.length} excluded`);
      remoteDatasets.set(path.resolve(local), remote);
    }
    let codeDir: string | undefined;
    if (o.codeDir) {
      codeDir = remoteJoin(wsDir, 'code');
      const r = await syncDirectory(conn, path.resolve(workspace ?? process.cwd(), o.codeDir), codeDir, {
        cacheDir: this.opts.cacheDir, extraExcludes: o.extraExcludes, signal, openSsh: o.systemSsh, log: ctx.log, report: (m, f) => ctx.report?.(`Code: ${m}`, f),
      });
      ctx.log?.(`Code folder: ${r.uploaded.length} sent, ${r.unchanged} unchanged`);
    }

    await conn.run(posix(`mkdir -p ${shellQuote(runDir)} ${shellQuote(remoteOutputDir)}`), { signal });
    let remoteConfig: string | undefined;
    if (request.trainingConfigPath) {
      remoteConfig = remoteJoin(runDir, `config${path.extname(request.trainingConfigPath) || '.json'}`);
      const raw = await fs.readFile(request.trainingConfigPath);
      const uploaded = o.template === 'simpletuner'
        ? simpleTunerConfig(raw.toString('utf8'), request.trainingConfigPath, { dataloader: remoteDataloaderPath(runDir, dataloader), outputDir: remoteOutputDir, resume: !!o.resumeFrom })
        : raw;
      await conn.run(posix(`cat > ${shellQuote(remoteConfig)}`), { stdin: uploaded, signal });
    }
    let remoteDataloader: string | undefined;
    if (dataloader !== undefined) {
      remoteDataloader = remoteDataloaderPath(runDir, dataloader)!;
      const rewritten = rewriteDataloader(dataloader, path.dirname(request.dataloaderConfigPath!), workspace, remoteDatasets, remoteJoin(jobRoot, 'cache'));
      await conn.run(posix(`cat > ${shellQuote(remoteDataloader)}`), { stdin: JSON.stringify(rewritten, null, 2), signal });
    }

    const firstDataset = datasets[0] ? remoteDatasets.get(path.resolve(workspace ?? process.cwd(), datasets[0].path)) : undefined;
    const command = buildCommand(o.template, {
      config: remoteConfig, dataloader: remoteDataloader, output_dir: remoteOutputDir, job_dir: jobRoot, job_id: job.id,
      dataset_dir: firstDataset, datasets_dir: remoteJoin(wsDir, 'datasets'), code_dir: codeDir, script: o.script,
    }, { custom: request.command, resume: !!o.resumeFrom });
    signal?.throwIfAborted();

    ctx.report?.('Starting the training command…');
    const launched = await launchRun(conn, {
      runDir,
      cwd: codeDir ?? jobRoot,
      command,
      env: {
        ...request.env, ...o.env,
        CLOUD_TRAINING_JOB_ID: job.id, CLOUD_TRAINING_OUTPUT_DIR: remoteOutputDir,
        ...(o.resumeFrom ? { CLOUD_TRAINING_RESUME: 'latest' } : {}),
      },
      tmux: o.useTmux !== 'never',
      sessionName: `ct-${job.id}`,
    }, signal);
    ctx.log?.(`Started on ${o.host} in ${runDir} (process group ${launched.pgid}${launched.tmuxSession ? `, tmux session ${launched.tmuxSession}` : ''})`);
    const metadata: SshJobMetadata = {
      host: o.host, workspaceDir: wsDir, jobRoot, runDir, remoteOutputDir, pgid: launched.pgid, tmuxSession: launched.tmuxSession,
      template: o.template, command, resumed: !!o.resumeFrom, keepJobFolder: o.keepJobFolder, downloadOutputs: o.downloadOutputs,
      localOutputDir: o.outputDir ?? (workspace ? path.join(workspace, 'outputs', job.id) : undefined),
    };
    return {
      providerJobId: `${o.host}:${launched.pgid}`, status: 'running', providerStatus: 'running', startedAt: new Date().toISOString(),
      metadata: { ...metadata, ...(results ? { [RESULTS_DESTINATION_KEY]: results } : {}) },
    };
  }

  async status(job: Job, ctx: ProviderContext): Promise<StatusUpdate> {
    const meta = this.meta(job);
    const conn = await this.connection(meta.host, ctx);
    const read = this.opts.readRunState ?? readRunState;
    // "Vanished" (no live group, no exit file) fails the job: only when a second look agrees.
    const s = await confirmGone(() => read(conn, meta.runDir, ctx.signal), (r) => r.state === 'vanished', this.opts.goneGraceMs, ctx.signal);
    switch (s.state) {
      case 'running':
        return { status: 'running', providerStatus: 'running' };
      case 'exited':
        if (s.code === 0) return { status: 'succeeded', providerStatus: 'exited 0', finishedAt: s.finishedAt };
        if (job.cancelRequestedAt) return { status: 'cancelled', providerStatus: `exited ${s.code}`, finishedAt: s.finishedAt };
        return { status: 'failed', providerStatus: `exited ${s.code}`, error: `Training command exited with code ${s.code}`, finishedAt: s.finishedAt };
      case 'vanished':
        if (job.cancelRequestedAt) return { status: 'cancelled', providerStatus: 'killed', finishedAt: new Date().toISOString() };
        return { status: 'failed', providerStatus: 'killed', error: 'The training process ended without an exit code (killed, out of memory, or the host restarted)' };
      case 'missing':
        return { status: 'failed', providerStatus: 'missing', error: `The job folder ${meta.runDir} is gone from ${meta.host}` };
    }
  }

  /** One nvidia-smi query on the job's host, through the connection the polling already holds. */
  async sampleGpus(job: Job, ctx: ProviderContext): Promise<string | undefined> {
    const conn = await this.connection(this.meta(job).host, ctx);
    const r = await conn.exec(`${GPU_SAMPLE_COMMAND} 2>/dev/null`, { signal: ctx.signal });
    return r.code === 0 ? r.stdout : undefined;
  }

  /** The host's GPU count through the GPU check (the same connection); undefined when it has none. */
  async capacity(host: string | undefined, ctx: ProviderContext): Promise<number | undefined> {
    if (!host) return undefined;
    const report = await checkGpus(await this.connection(host, ctx), ctx.signal);
    return report.gpus.length || undefined;
  }

  async fetchLogs(job: Job, offset: number, ctx: ProviderContext): Promise<Buffer> {
    const meta = this.meta(job);
    return readLog(await this.connection(meta.host, ctx), meta.runDir, offset, undefined, ctx.signal);
  }

  async cancel(job: Job, ctx: ProviderContext): Promise<void> {
    const meta = this.meta(job);
    const r = await killRun(await this.connection(meta.host, ctx), meta.pgid, { graceSeconds: this.opts.killGraceSeconds, tmuxSession: meta.tmuxSession, signal: ctx.signal });
    ctx.log?.(r === 'not-running' ? 'The training process had already ended' : `Training process group ${meta.pgid} ${r}`);
  }

  /**
   * Download outputs into the workspace, deliver them to the job's results destination (a succeeded
   * job only; a failed delivery is recorded, the downloaded files stay) and, if asked and the job
   * succeeded, remove the job folder.
   */
  async finalize(job: Job, ctx: ProviderContext): Promise<FinalizeResult> {
    const meta = this.meta(job);
    const conn = await this.connection(meta.host, ctx);
    const outputs: JobOutput[] = [];
    let local: string | undefined;
    if (meta.downloadOutputs) {
      local = meta.localOutputDir ?? path.join(ctx.dataHome, 'outputs', job.id);
      const r = await downloadDirectory(conn, meta.remoteOutputDir, local, { signal: ctx.signal, report: ctx.report });
      ctx.log?.(`Downloaded ${r.files} output file(s) (${r.bytes} bytes) to ${local}`);
      if (r.files) outputs.push({ kind: 'directory', uri: local, label: 'Outputs (downloaded)', bytes: r.bytes });
    }
    const delivery = await deliverJobOutputs({
      job, folder: local, noFolderReason: `downloadOutputs is off for this job, so its outputs are only on ${meta.host}`,
      deps: this.opts, signal: ctx.signal, log: ctx.log, report: ctx.report,
    });
    if (delivery) outputs.push(...delivery.outputs);
    // Cancelled or failed jobs keep their folder: it holds the checkpoints a resume needs.
    let removed = false;
    if (!meta.keepJobFolder && job.status === 'succeeded') {
      await conn.run(posix(`rm -rf -- ${shellQuote(meta.jobRoot)}`), { signal: ctx.signal });
      removed = true;
    }
    outputs.push({ kind: 'directory', uri: `ssh://${meta.host}${meta.remoteOutputDir}`, label: removed ? 'Output folder on the host (removed)' : 'Output folder on the host' });
    return {
      outputs,
      metadata: { ...job.metadata, remoteFolderRemoved: removed, ...delivery?.metadata },
      ...(delivery ? { statusDetail: delivery.statusDetail } : {}),
    };
  }

  async dispose(): Promise<void> {
    const all = [...this.connections.values()];
    this.connections.clear();
    for (const p of all) (await p.catch(() => undefined))?.dispose();
  }

  private meta(job: Job): SshJobMetadata {
    const r = SshJobMetadataSchema.safeParse(job.metadata);
    if (!r.success) throw new Error(`Job ${job.id} has no SSH run information (was it submitted to an SSH host?)`);
    return r.data;
  }
}

/** The request that resumes `job` (failed or cancelled) in the same remote job folder. */
export function resumeRequestFor(job: Job, previous: SubmitRequest): SubmitRequest {
  const meta = SshJobMetadataSchema.parse(job.metadata);
  if (job.status !== 'failed' && job.status !== 'cancelled') throw new Error(`Only failed or cancelled jobs can be resumed (this one is ${job.status})`);
  return { ...previous, options: { ...previous.options, host: meta.host, template: meta.template, resumeFrom: { jobRoot: meta.jobRoot, jobId: job.id } } };
}

/** Same as resumeRequestFor, rebuilding the original request from what history kept (`job.submission`, config paths). */
export function resumeRequestFromJob(job: Job): SubmitRequest {
  const sub = (job.submission ?? {}) as { command?: string; cwd?: string; hardware?: string; options?: Record<string, unknown>; env?: Record<string, string> };
  return resumeRequestFor(job, {
    command: sub.command, cwd: sub.cwd, hardware: sub.hardware ?? job.hardware, env: sub.env, options: sub.options ?? {},
    trainingConfigPath: job.configPaths.training, dataloaderConfigPath: job.configPaths.dataloader,
  });
}

/** Folder name for a workspace on the host: readable and unique per local path. */
export function workspaceKey(workspace: string | undefined): string {
  if (!workspace) return 'default';
  const name = path.basename(workspace).replace(/[^\w.-]/g, '_').slice(0, 40) || 'workspace';
  return `${name}-${createHash('sha256').update(path.resolve(workspace)).digest('hex').slice(0, 8)}`;
}

async function readDataloader(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The local folders a submission syncs to the host (datasets, explicit or from the dataloader config,
 * and the code folder): what the consent step lists. The same rules as the sync itself.
 */
export async function foldersToSync(
  request: Pick<SubmitRequest, 'dataloaderConfigPath'>, o: { datasets: Array<{ id: string; path: string }>; codeDir?: string }, workspace: string | undefined,
): Promise<SyncedFolder[]> {
  const dataloader = !o.datasets.length && request.dataloaderConfigPath ? await readDataloader(request.dataloaderConfigPath) : undefined;
  const datasets = o.datasets.length ? o.datasets : (dataloader !== undefined ? localDatasetsOf(dataloader, path.dirname(request.dataloaderConfigPath!), workspace) : []);
  const out: SyncedFolder[] = datasets.map((d) => ({ id: d.id, path: path.resolve(workspace ?? process.cwd(), d.path) }));
  if (o.codeDir) out.push({ id: 'code', path: path.resolve(workspace ?? process.cwd(), o.codeDir) });
  return out;
}

type Backend = Record<string, unknown>;
// SimpleTuner accepts a list of backends or {"datasets": [...]}.
const backendsOf = (d: unknown): Backend[] => {
  const list = Array.isArray(d) ? d : (d && typeof d === 'object' && Array.isArray((d as { datasets?: unknown }).datasets) ? (d as { datasets: unknown[] }).datasets : []);
  return list.filter((b): b is Backend => !!b && typeof b === 'object');
};
const isLocalImages = (b: Backend) => (b.type === undefined || b.type === 'local') && typeof b.instance_data_dir === 'string' && b.dataset_type !== 'text_embeds';

/** SimpleTuner dataloader entries of type local with an instance_data_dir → folders to sync. */
export function localDatasetsOf(dataloader: unknown, configDir: string, workspace: string | undefined): Array<{ id: string; path: string }> {
  const seen = new Set<string>();
  const out: Array<{ id: string; path: string }> = [];
  for (const [i, b] of backendsOf(dataloader).entries()) {
    if (!isLocalImages(b) || isDisabled(b)) continue;
    const abs = resolveLocal(b.instance_data_dir as string, configDir, workspace);
    if (seen.has(abs)) continue;
    seen.add(abs);
    const id = String(b.id ?? `dataset-${i}`).replace(/[^\w.-]/g, '_');
    out.push({ id, path: abs });
  }
  return out;
}

/** Point instance_data_dir at the synced copies and every cache_dir* at the job's folder on the host. */
export function rewriteDataloader(dataloader: unknown, configDir: string, workspace: string | undefined, remoteDatasets: Map<string, string>, remoteCache: string): unknown {
  return backendsOf(dataloader).map((b, i) => {
    const copy: Backend = { ...b };
    if (isLocalImages(b)) {
      const remote = remoteDatasets.get(resolveLocal(b.instance_data_dir as string, configDir, workspace));
      if (remote) copy.instance_data_dir = remote;
    }
    // Only local storage has cache folders on the host; an aws dataset's cache_dir* is an S3 prefix, a disabled one is never read.
    const local = (b.type === undefined || b.type === 'local' || b.type === 'csv') && !isDisabled(b);
    for (const k of Object.keys(copy)) {
      if (local && k.startsWith('cache_dir') && typeof copy[k] === 'string') copy[k] = remoteJoin(remoteCache, String(b.id ?? i).replace(/[^\w.-]/g, '_'), k);
    }
    return copy;
  });
}

function resolveLocal(p: string, configDir: string, workspace: string | undefined): string {
  if (path.isAbsolute(p)) return path.resolve(p);
  // SimpleTuner resolves relative paths from where it runs (the workspace), not from the config's folder.
  return path.resolve(workspace ?? configDir, p);
}

/** Copy a folder from the host (SFTP, several files in flight). A missing folder is zero files. */
export async function downloadDirectory(conn: SshConnection, remoteDir: string, localDir: string, opts: { signal?: AbortSignal; report?: (m: string, f?: number) => void; concurrency?: number } = {}): Promise<{ files: number; bytes: number }> {
  const listing = await conn.execBuffer(posix(`test -d ${shellQuote(remoteDir)} && find ${shellQuote(remoteDir)} -type f -printf '%s %P\\0' || true`), { signal: opts.signal });
  const files = listing.stdout.toString('utf8').split('\0').filter(Boolean).map((rec) => {
    const sp = rec.indexOf(' ');
    return { size: Number(rec.slice(0, sp)), rel: rec.slice(sp + 1) };
  }).filter((f) => f.rel && !f.rel.split('/').includes('..'));
  const sftp = await conn.sftp();
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  await mapLimit(files, opts.concurrency ?? 8, async (f) => {
    const dest = path.join(localDir, ...f.rel.split('/'));
    await fs.mkdir(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.ct-partial`;
    await new Promise<void>((resolve, reject) => sftp.fastGet(remoteJoin(remoteDir, f.rel), tmp, (e) => (e ? reject(e) : resolve())));
    await fs.rename(tmp, dest);
    done += f.size;
    opts.report?.(`Downloading outputs (${files.length} files)…`, total ? done / total : undefined);
  }, opts.signal);
  return { files: files.length, bytes: total };
}

/** Where the rewritten dataloader config goes on the host (none without a dataloader config). */
function remoteDataloaderPath(runDir: string, dataloader: unknown): string | undefined {
  return dataloader === undefined ? undefined : remoteJoin(runDir, 'dataloader.json');
}
