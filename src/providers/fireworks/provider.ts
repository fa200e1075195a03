import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Job, JobOutput, JobStatus, Progress } from '../../core/jobs/schema';
import { parseFinetuneOptions, providerMarker, type FinetuneOptions } from '../../core/finetune/options';
import type {
  CredentialCheck, FinalizeResult, HardwareOption, ProviderCapabilities, ProviderContext, RemoteJobSummary, StatusUpdate,
  SubmitRequest, SubmitResult, TrainingProvider,
} from '../../core/providers/types';
import { assertDatasetsValid, errorMessage, sliceLog, uploadsOf, type UploadRecord } from '../managed-finetune';
import { FireworksApi, FireworksApiError, isTerminalState, type CreateSftJob, type FireworksJob } from './api';

export interface FireworksProviderDeps {
  /** SecretStorage in the editor, FIREWORKS_API_KEY in the CLI. Read on every call. */
  getApiKey(): Promise<string | undefined>;
  /** FIREWORKS_ACCOUNT_ID / setting. */
  getAccountId(): Promise<string | undefined>;
  baseUrl?: () => string | undefined;
  timeoutMs?: number;
  maxRetryAfterMs?: number;
  backoffMs?: number;
  cacheMs?: number;
}

/** Our state for each documented JOB_STATE_* (get-supervised-fine-tuning-job); unknown ones by progress. */
export function mapFireworksState(state: string, hasProgress = false): JobStatus {
  switch (state) {
    case 'JOB_STATE_CREATING': case 'JOB_STATE_PENDING': return 'queued';
    case 'JOB_STATE_VALIDATING': return 'starting';
    case 'JOB_STATE_RUNNING': case 'JOB_STATE_WRITING_RESULTS': return 'running';
    case 'JOB_STATE_COMPLETED': case 'JOB_STATE_EARLY_STOPPED': return 'succeeded';
    case 'JOB_STATE_FAILED': case 'JOB_STATE_EXPIRED': return 'failed';
    case 'JOB_STATE_CANCELLED': case 'JOB_STATE_DELETING': return 'cancelled';
    default: return hasProgress ? 'running' : 'queued';
  }
}

/**
 * How far the synthesised log has got, kept on the job (metadata `fireworksLog`) so it only grows:
 * 0 created, 1 pending, 2 running; `percent` the highest progress seen.
 */
export interface LogMark { rank: number; percent: number }

const RANK: Record<string, number> = { JOB_STATE_CREATING: 0, JOB_STATE_VALIDATING: 0, JOB_STATE_PENDING: 1, JOB_STATE_RUNNING: 2, JOB_STATE_WRITING_RESULTS: 2 };

export function advanceMark(prev: LogMark | undefined, j: FireworksJob): LogMark {
  const percent = Math.max(prev?.percent ?? 0, j.jobProgress?.percent ?? 0);
  const rank = Math.max(prev?.rank ?? 0, RANK[j.state] ?? (isTerminalState(j.state) ? (percent > 0 ? 2 : 0) : 0), percent > 0 ? 2 : 0);
  return { rank, percent };
}

/**
 * Fireworks has no event list for SFT jobs, so the log is synthesised from the job: creation, the states
 * reached in order, one line per 10% of progress, and the end. Built only from the mark (which never
 * goes back) and the provider's own timestamps, it is the same text on every fetch: offsets stay valid.
 */
export function renderFireworksLog(j: FireworksJob, mark: LogMark): string {
  const lines = [`${j.createTime ?? ''} created: supervised fine-tuning job ${j.name.split('/').pop()} of ${j.warmStartFrom ? `${j.warmStartFrom} (warm start)` : j.baseModel ?? 'the base model'} on ${j.dataset?.split('/').pop() ?? 'the dataset'}`.trim()];
  if (mark.rank >= 1) lines.push('state JOB_STATE_PENDING: waiting for capacity');
  if (mark.rank >= 2) lines.push('state JOB_STATE_RUNNING: training');
  for (let p = 10; p <= Math.floor(mark.percent / 10) * 10; p += 10) lines.push(`progress ${p}%`);
  if (isTerminalState(j.state)) {
    const detail = j.state === 'JOB_STATE_COMPLETED' || j.state === 'JOB_STATE_EARLY_STOPPED' ? `output model ${j.outputModel ?? '(none)'}` : j.status?.message || j.status?.code || '';
    lines.push(`${j.completedTime ?? j.updateTime ?? ''} state ${j.state}${detail ? `: ${detail}` : ''}`.trim());
  }
  return lines.map((l) => `${l}\n`).join('');
}

export function fireworksProgress(j: FireworksJob): Progress {
  const p: Progress = {};
  if (j.jobProgress?.percent !== undefined) p.percent = Math.min(100, j.jobProgress.percent);
  if (j.jobProgress?.epoch !== undefined) p.epoch = j.jobProgress.epoch;
  if (j.epochs) p.totalEpochs = j.epochs;
  return p;
}

/**
 * Fireworks supervised fine-tuning over our typed REST client: the dataset id is derived from the file's
 * sha256 (so an identical file is reused), the job id is `ct-<our job id>` (so a lost create is found by
 * id, never created twice), progress and a synthesised log come from the job, and at the end the output
 * model is recorded and the datasets are deleted unless kept.
 */
export class FireworksProvider implements TrainingProvider {
  readonly id = 'fireworks' as const;
  readonly displayName = 'Fireworks';
  readonly capabilities: ProviderCapabilities = {
    costTracking: false, liveLogs: true, cancel: true, resume: true, webhooks: false, listRemote: true, uploadsData: true,
  };
  private readonly cache = new Map<string, { at: number; job: FireworksJob | undefined }>();

  constructor(private readonly deps: FireworksProviderDeps) {}

  private async api(): Promise<{ api: FireworksApi; account: string }> {
    const apiKey = (await this.deps.getApiKey())?.trim();
    const account = (await this.deps.getAccountId())?.trim();
    if (!apiKey) throw new FireworksApiError('No Fireworks API key. Set FIREWORKS_API_KEY (CLI) or run "Cloud Training: Set Fireworks API Key" (editor).');
    if (!account) throw new FireworksApiError('No Fireworks account id. Set FIREWORKS_ACCOUNT_ID (the account in your Fireworks dashboard URL).');
    return {
      api: new FireworksApi({ apiKey, accountId: account, baseUrl: this.deps.baseUrl?.(), timeoutMs: this.deps.timeoutMs, maxRetryAfterMs: this.deps.maxRetryAfterMs, backoffMs: this.deps.backoffMs }),
      account,
    };
  }

  async validateCredentials(signal?: AbortSignal): Promise<CredentialCheck> {
    try {
      const { api, account } = await this.api();
      await api.listSftJobs({ pageSize: 1, maxPages: 1, signal });
      return { ok: true, account, message: `The Fireworks API key works for account ${account}` };
    } catch (e) {
      return { ok: false, message: errorMessage(e) };
    }
  }

  async listHardware(): Promise<HardwareOption[]> {
    return [{ id: 'managed', label: 'Managed by Fireworks', detail: 'Fireworks picks the GPUs; billed per training token' }];
  }

  async submit(job: Job, request: SubmitRequest, ctx: ProviderContext): Promise<SubmitResult> {
    const o = parseFinetuneOptions(request.options, 'Fireworks');
    // DPO is a separate job type on Fireworks (not built here); refuse before anything is sent.
    if (o.method === 'dpo') throw new FireworksApiError('DPO fine-tunes on Fireworks are not supported yet; use --method sft or Together.');
    await assertDatasetsValid(o, ctx.signal);
    const { api, account } = await this.api();
    const uploads: UploadRecord[] = [];
    const send = async (role: UploadRecord['role'], file: string) => {
      ctx.report?.(`uploading ${path.basename(file)}`, 0);
      const r = await api.ensureDataset(file, { signal: ctx.signal, displayName: path.basename(file), onProgress: (sent, total) => ctx.report?.(`uploading ${path.basename(file)}`, total ? sent / total : undefined) });
      ctx.log?.(r.reused ? `Fireworks already has ${path.basename(file)} (dataset ${r.id}); not sent again` : `Uploaded ${path.basename(file)} to Fireworks as dataset ${r.id}`);
      uploads.push({ role, id: r.id, reused: r.reused, bytes: (await fs.stat(file)).size });
      return `accounts/${account}/datasets/${r.id}`;
    };
    const marker = providerMarker(job.id);
    let created: { job: FireworksJob; recovered: boolean };
    try {
      const dataset = await send('training', o.trainingFile);
      const evaluationDataset = o.validationFile ? await send('validation', o.validationFile) : undefined;
      created = await api.createSftJob(marker, createSpec(o, dataset, evaluationDataset, `${job.name} (${job.id})`), ctx.signal);
    } catch (e) {
      if (!(e instanceof FireworksApiError && e.unknownOutcome)) await deleteDatasets(api, uploads.filter((u) => !u.reused), undefined, ctx).catch(() => undefined);
      throw e;
    }
    if (created.recovered) ctx.log?.(`The create's answer was lost; found the job ${marker} by its id (not created twice)`);
    return {
      providerJobId: marker,
      status: mapFireworksState(created.job.state, !!created.job.jobProgress),
      providerStatus: created.job.state,
      metadata: { finetuneUploads: uploads, finetuneMarker: marker, finetuneModel: o.model, fireworksAccount: account, ...(created.job.outputModel ? { outputModel: created.job.outputModel } : {}) },
    };
  }

  private async get(job: Job, signal?: AbortSignal, fresh = false): Promise<FireworksJob | undefined> {
    const id = job.providerJobId;
    if (!id) return undefined;
    const hit = this.cache.get(id);
    if (!fresh && hit && Date.now() - hit.at < (this.deps.cacheMs ?? 1000)) return hit.job;
    try {
      const got = await (await this.api()).api.getSftJob(id, signal);
      this.cache.set(id, { at: Date.now(), job: got });
      return got;
    } catch (e) {
      if (e instanceof FireworksApiError && e.status === 404) { this.cache.set(id, { at: Date.now(), job: undefined }); return undefined; }
      if (e instanceof FireworksApiError && e.transient) throw new FireworksApiError(`reconnecting to Fireworks (${e.message})`, e.status, true);
      throw e;
    }
  }

  async status(job: Job, ctx: ProviderContext): Promise<StatusUpdate> {
    const j = await this.get(job, ctx.signal);
    if (!j) {
      return job.cancelRequestedAt
        ? { status: 'cancelled', statusDetail: 'No longer on Fireworks' }
        : { status: 'failed', error: `The fine-tuning job ${job.providerJobId ?? ''} no longer exists on Fireworks`.trim() };
    }
    const status = mapFireworksState(j.state, !!j.jobProgress);
    return {
      status,
      providerStatus: j.state,
      progress: fireworksProgress(j),
      ...(status === 'failed' ? { error: j.status?.message || `Fireworks reported ${j.state}` } : {}),
      ...(j.state === 'JOB_STATE_EARLY_STOPPED' ? { statusDetail: 'stopped early by Fireworks' } : {}),
      finishedAt: j.completedTime,
      metadata: { fireworksLog: advanceMark(markOf(job), j), ...(j.outputModel ? { outputModel: j.outputModel } : {}) },
    };
  }

  async fetchLogs(job: Job, offset: number, ctx: ProviderContext): Promise<Buffer | null> {
    const j = await this.get(job, ctx.signal);
    if (!j) return Buffer.alloc(0);
    return sliceLog(renderFireworksLog(j, advanceMark(markOf(job), j)), offset, !isTerminalState(j.state));
  }

  async cancel(job: Job, ctx: ProviderContext): Promise<void> {
    if (!job.providerJobId) return;
    this.cache.delete(job.providerJobId);
    await (await this.api()).api.cancelSftJob(job.providerJobId, ctx.signal);
  }

  async finalize(job: Job, ctx: ProviderContext): Promise<FinalizeResult> {
    const o = parseFinetuneOptions(job.submission?.options, 'Fireworks');
    const { api } = await this.api();
    const j = await this.get(job, ctx.signal, true);
    const outputs: JobOutput[] = [];
    const metadata: Record<string, unknown> = {};
    const model = j?.outputModel ?? (job.metadata.outputModel as string | undefined);
    if (job.status === 'succeeded' && model) {
      outputs.push({ kind: 'model', uri: model, label: 'Fireworks model (LoRA)' });
      metadata.outputModel = model;
    }
    Object.assign(metadata, await this.cleanUploads(api, job, o, ctx));
    const cost = billedEstimate(job, j);
    if (cost) metadata.costEstimated = true;
    return {
      outputs, metadata, ...(cost ? { cost } : {}),
      ...(job.status === 'succeeded' ? { statusDetail: 'Fireworks keeps the LoRA as a model in your account; download it with `firectl download model` (not done here)' } : {}),
    };
  }

  private async cleanUploads(api: FireworksApi, job: Job, o: FinetuneOptions, ctx: ProviderContext): Promise<Record<string, unknown>> {
    const uploads = uploadsOf(job);
    if (!uploads.length || job.metadata.uploadsDeleted) return {};
    if (o.keepUploads) {
      ctx.log?.(`Keeping the datasets on Fireworks (${uploads.map((u) => u.id).join(', ')}), as asked`);
      return { uploadsKept: true };
    }
    const others = (await api.listSftJobs({ signal: ctx.signal })).filter((x) => x.name.split('/').pop() !== job.providerJobId && !isTerminalState(x.state));
    const inUse = new Set(others.flatMap((x) => [x.dataset, x.evaluationDataset]).filter(Boolean).map((n) => n!.split('/').pop()!));
    const kept = uploads.filter((u) => inUse.has(u.id));
    for (const k of kept) ctx.log?.(`Keeping dataset ${k.id} on Fireworks: another job still uses it`);
    await deleteDatasets(api, uploads.filter((u) => !inUse.has(u.id)), ctx.signal, ctx);
    return kept.length ? { uploadsDeleted: true, uploadsKeptFor: kept.map((k) => k.id) } : { uploadsDeleted: true };
  }

  async listRemote(limit: number, ctx: ProviderContext): Promise<RemoteJobSummary[]> {
    const jobs = await (await this.api()).api.listSftJobs({ signal: ctx.signal, maxPages: Math.ceil(limit / 50) });
    return jobs.slice(0, limit).map((j) => ({
      providerJobId: j.name.split('/').pop()!, status: mapFireworksState(j.state, !!j.jobProgress), createdAt: j.createTime ?? new Date(0).toISOString(),
      name: j.displayName ?? `fine-tune of ${j.baseModel ?? j.warmStartFrom ?? 'a model'}`, hardware: 'managed',
    }));
  }

  dispose(): void {
    this.cache.clear();
  }
}

/**
 * Fireworks reports no cost on the job, and a finished job with none would drop out of the spending
 * totals. So the plan's estimate (tokens × epochs × the table's rate) stands in for the bill: in full for
 * a completed job, by the share of progress for one that stopped. Marked `costEstimated` on the job.
 */
export function billedEstimate(job: Job, j: FireworksJob | undefined): Job['cost'] | undefined {
  const expected = job.cost?.estimate?.expected;
  if (expected === undefined || job.cost?.actual !== undefined) return undefined;
  const share = job.status === 'succeeded' ? 1 : Math.min(1, Math.max(0, (j?.jobProgress?.percent ?? job.progress.percent ?? 0) / 100));
  return { ...job.cost, currency: 'USD', actual: Math.round(expected * share * 1e4) / 1e4 };
}

function markOf(job: Job): LogMark | undefined {
  const m = job.metadata.fireworksLog as LogMark | undefined;
  return m && typeof m.rank === 'number' && typeof m.percent === 'number' ? m : undefined;
}

async function deleteDatasets(api: FireworksApi, uploads: UploadRecord[], signal: AbortSignal | undefined, ctx: ProviderContext): Promise<void> {
  for (const u of uploads) {
    await api.deleteDataset(u.id, signal);
    ctx.log?.(`Deleted the ${u.role} dataset ${u.id} from Fireworks`);
  }
}

export function createSpec(o: FinetuneOptions, dataset: string, evaluationDataset: string | undefined, displayName: string): CreateSftJob {
  return {
    dataset,
    // Exactly one of baseModel / warmStartFrom: a warm start continues from an earlier LoRA.
    ...(o.fromCheckpoint ? { warmStartFrom: o.fromCheckpoint } : { baseModel: o.model }),
    displayName: displayName.slice(0, 120),
    ...(evaluationDataset ? { evaluationDataset } : {}),
    ...(o.epochs ? { epochs: o.epochs } : {}),
    ...(o.learningRate ? { learningRate: o.learningRate } : {}),
    ...(o.loraRank ? { loraRank: o.loraRank } : {}),
  };
}

/** The provider as the CLI builds it: FIREWORKS_API_KEY, FIREWORKS_ACCOUNT_ID, FIREWORKS_BASE_URL, read on every call. */
export function fireworksProviderFromEnv(env: NodeJS.ProcessEnv = process.env, extra: Partial<FireworksProviderDeps> = {}): FireworksProvider {
  return new FireworksProvider({
    getApiKey: async () => env.FIREWORKS_API_KEY,
    getAccountId: async () => env.FIREWORKS_ACCOUNT_ID,
    baseUrl: () => env.FIREWORKS_BASE_URL,
    ...extra,
  });
}
