import { execFile, spawn } from 'node:child_process';
import { promises as fs, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import {
  RESULTS_DESTINATION_KEY, checkDeliveryCredentials, deliverJobOutputs, parseResultsOption,
} from '../../core/destinations/job-delivery';
import type { SecretLookup } from '../../core/destinations/schema';
import type { Job } from '../../core/jobs/schema';
import type {
  CredentialCheck, FinalizeResult, HardwareOption, ProviderCapabilities, ProviderContext, StatusUpdate, SubmitRequest, SubmitResult, TrainingProvider,
} from '../../core/providers/types';
import { fillCommand, shellQuote } from './command';
import { GPU_SAMPLE_COMMAND } from '../../core/gpu/samples';
import { GPU_COUNT_COMMAND, countGpuLines } from '../../core/queue/capacity';
import { isOurProcessAlive, localRunProbe } from './process-files';
import { confirmGone, observeRun, type RunProbe } from '../run-observation';

/** What we keep on the job to find the process again after a window reload. */
export const LocalJobMetadataSchema = z.object({
  jobDir: z.string(),
  pid: z.number().int().positive(),
  runScript: z.string(),
  outputDir: z.string(),
  command: z.string(),
});

export interface LocalProviderOptions {
  /** Where per-job folders go (DataLayout.jobsDir). */
  jobsDir: string;
  /** Default command template when the request has none (setting / env). */
  defaultCommand?: () => string | undefined;
  /** Grace period between SIGTERM and SIGKILL on cancel. */
  killGraceMs?: number;
  /** Secrets of results destinations (SecretStorage in the editor, the environment in the CLI); never stored. */
  secrets?: SecretLookup;
  env?: NodeJS.ProcessEnv;
  /** How a run is looked at (default: its pid and exit file); tests wrap it to force interleavings. */
  probe?: (run: z.infer<typeof LocalJobMetadataSchema>) => RunProbe;
  /** Wait before the second look at a run that seemed gone without an exit code (default 500 ms). */
  goneGraceMs?: number;
}

/**
 * Runs the training command on this machine as a tracked job (F12). The process is started detached
 * in its own session/process group through a small shell wrapper that writes `pid` and `exit_code`
 * files, so the job outlives the window that started it and its state can be recovered from the files.
 */
export class LocalProvider implements TrainingProvider {
  readonly id = 'local' as const;
  readonly displayName = 'This machine';
  readonly capabilities: ProviderCapabilities = {
    costTracking: false, liveLogs: true, cancel: true, resume: false, webhooks: false, listRemote: false, uploadsData: false,
  };

  constructor(private readonly opts: LocalProviderOptions) {}

  async validateCredentials(): Promise<CredentialCheck> {
    return { ok: true, message: 'No credentials needed to run on this machine' };
  }

  async listHardware(): Promise<HardwareOption[]> {
    return [{ id: 'local', label: 'This machine', pricePerHour: 0 }];
  }

  async submit(job: Job, request: SubmitRequest, ctx: ProviderContext): Promise<SubmitResult> {
    const template = request.command ?? this.opts.defaultCommand?.();
    if (!template?.trim()) {
      throw new Error('No training command: pass --command, or set "cloudTraining.local.command" (e.g. "python3 train.py --config {config}")');
    }
    if (!job.logPath) throw new Error(`Job ${job.id} has no log path`);
    // `options.results`: where a succeeded job's output folder is pushed (HF Hub / S3); checked before anything runs.
    const results = parseResultsOption(request.options);
    await checkDeliveryCredentials(results, this.opts);
    ctx.signal?.throwIfAborted();
    const jobDir = path.join(this.opts.jobsDir, job.id);
    const outputDir = path.join(jobDir, 'output');
    await fs.mkdir(outputDir, { recursive: true });
    await fs.mkdir(path.dirname(job.logPath), { recursive: true });
    const cwd = request.cwd ?? (request.trainingConfigPath ? path.dirname(path.dirname(request.trainingConfigPath)) : process.cwd());
    const command = fillCommand(template, {
      config: request.trainingConfigPath,
      dataloader: request.dataloaderConfigPath,
      output_dir: outputDir,
      job_id: job.id,
      workspace: job.workspace ?? cwd,
    });
    const runScript = path.join(jobDir, 'run.sh');
    // The wrapper records the exit code atomically; the pid file is written by us below.
    await fs.writeFile(runScript, [
      '#!/bin/sh',
      `# cloud-training local job ${job.id}`,
      `cd ${shellQuote(cwd)} || exit 127`,
      // A subshell, so an `exit` inside the user's command still reaches the exit-code line.
      '(',
      command,
      ')',
      'code=$?',
      `printf '%s\\n' "$code" > ${shellQuote(path.join(jobDir, 'exit_code.tmp'))} && mv ${shellQuote(path.join(jobDir, 'exit_code.tmp'))} ${shellQuote(path.join(jobDir, 'exit_code'))}`,
      'exit $code',
      '',
    ].join('\n'), { mode: 0o700 });
    ctx.signal?.throwIfAborted();

    const fd = openSync(job.logPath, 'a');
    let pid: number | undefined;
    try {
      const child = spawn('/bin/sh', [runScript], {
        cwd,
        detached: true, // setsid(): own session and process group, survives the extension host
        stdio: ['ignore', fd, fd],
        env: { ...process.env, ...request.env, CLOUD_TRAINING_JOB_ID: job.id, CLOUD_TRAINING_OUTPUT_DIR: outputDir, PYTHONUNBUFFERED: '1' },
      });
      pid = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('spawn', () => resolve(child.pid!));
      });
      child.unref();
    } finally {
      closeSync(fd);
    }
    await fs.writeFile(path.join(jobDir, 'pid'), `${pid}\n`);
    const metadata: z.infer<typeof LocalJobMetadataSchema> = { jobDir, pid, runScript, outputDir, command };
    return {
      providerJobId: String(pid), status: 'running', providerStatus: 'running', startedAt: new Date().toISOString(),
      metadata: { ...metadata, ...(results ? { [RESULTS_DESTINATION_KEY]: results } : {}) },
    };
  }

  async status(job: Job, ctx?: Pick<ProviderContext, 'signal'>): Promise<StatusUpdate> {
    const meta = this.meta(job);
    const probe = (this.opts.probe ?? localRunProbe)(meta);
    const seen = await confirmGone(() => observeRun(probe), (o) => o.state === 'gone', this.opts.goneGraceMs, ctx?.signal);
    if (seen.state === 'exited') {
      const { code, finishedAt } = seen;
      if (code === 0) return { status: 'succeeded', providerStatus: 'exited 0', finishedAt, outputs: [{ kind: 'directory', uri: meta.outputDir, label: 'Output folder' }] };
      if (job.cancelRequestedAt) return { status: 'cancelled', providerStatus: `exited ${code}`, finishedAt };
      return { status: 'failed', providerStatus: `exited ${code}`, error: `Training command exited with code ${code}`, finishedAt };
    }
    if (seen.state === 'running') return { status: 'running', providerStatus: 'running' };
    // Gone without an exit code, twice: killed by a signal (our cancel, OOM killer, reboot).
    if (job.cancelRequestedAt) return { status: 'cancelled', providerStatus: 'killed', finishedAt: new Date().toISOString() };
    return { status: 'failed', providerStatus: 'killed', error: 'The training process ended without an exit code (killed by a signal, or the machine restarted)' };
  }

  /** nvidia-smi on this machine (found on the PATH the jobs get); undefined without one. */
  async sampleGpus(_job: Job, ctx: ProviderContext): Promise<string | undefined> {
    const [cmd, ...args] = GPU_SAMPLE_COMMAND.split(' ');
    return new Promise((resolve) => {
      execFile(cmd!, args, { env: this.opts.env ?? process.env, timeout: 15_000, signal: ctx.signal, maxBuffer: 1 << 20 }, (err, stdout) => resolve(err ? undefined : stdout));
    });
  }

  /** This machine's GPU count (nvidia-smi on the jobs' PATH); undefined without nvidia-smi or GPUs. */
  async capacity(_hardware: string | undefined, ctx: ProviderContext): Promise<number | undefined> {
    const [cmd, ...args] = GPU_COUNT_COMMAND.split(' ');
    const out = await new Promise<string | undefined>((resolve) => {
      execFile(cmd!, args, { env: this.opts.env ?? process.env, timeout: 15_000, signal: ctx.signal }, (err, stdout) => resolve(err ? undefined : stdout));
    });
    const n = out === undefined ? 0 : countGpuLines(out);
    return n > 0 ? n : undefined;
  }

  async fetchLogs(): Promise<Buffer | null> {
    return null; // the process writes the job's log file directly
  }

  async cancel(job: Job): Promise<void> {
    const meta = this.meta(job);
    if (!(await isOurProcessAlive(meta.pid, meta.runScript))) return;
    killGroup(meta.pid, 'SIGTERM');
    const deadline = Date.now() + (this.opts.killGraceMs ?? 5_000);
    while (Date.now() < deadline) {
      if (!groupAlive(meta.pid)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    killGroup(meta.pid, 'SIGKILL');
  }

  /**
   * The outputs stay where the trainer wrote them: the job's `output/` folder, filled in as
   * `{output_dir}` / `$CLOUD_TRAINING_OUTPUT_DIR`. A succeeded job with a results destination has that
   * folder pushed there; a command that wrote elsewhere leaves it empty, which is reported, not guessed.
   */
  async finalize(job: Job, ctx: ProviderContext): Promise<FinalizeResult> {
    if (job.metadata[RESULTS_DESTINATION_KEY] === undefined) return {};
    const meta = LocalJobMetadataSchema.safeParse(job.metadata);
    const outcome = await deliverJobOutputs({
      job, folder: meta.success ? meta.data.outputDir : undefined, noFolderReason: 'the job has no output folder recorded',
      deps: this.opts, signal: ctx.signal, log: ctx.log, report: ctx.report,
    });
    if (!outcome) return {};
    return { outputs: outcome.outputs, metadata: outcome.metadata, statusDetail: outcome.statusDetail };
  }

  private meta(job: Job): z.infer<typeof LocalJobMetadataSchema> {
    const r = LocalJobMetadataSchema.safeParse(job.metadata);
    if (!r.success) throw new Error(`Job ${job.id} has no local process information (was it submitted to this machine?)`);
    return r.data;
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
