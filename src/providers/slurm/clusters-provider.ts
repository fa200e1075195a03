import type { Job } from '../../core/jobs/schema';
import type {
  CredentialCheck, FinalizeResult, HardwareOption, ProviderCapabilities, ProviderContext, StatusUpdate, SubmitRequest, SubmitResult, SyncedFolder, TrainingProvider,
} from '../../core/providers/types';
import { foldersToSync } from '../ssh/provider';
import { SlurmProvider, SlurmSubmitOptionsSchema, type SlurmProviderOptions } from './provider';
import type { SlurmCluster } from './resources';

/**
 * The registry's one `slurm` provider over every configured cluster (`cloudTraining.slurm.clusters`).
 * A submission names its cluster by `options.host`, or by the hardware id `<host>` / `<host>/<partition>`
 * from listHardware; later calls find it again from the job's metadata.
 */
export class SlurmClustersProvider implements TrainingProvider {
  readonly id = 'slurm' as const;
  readonly displayName = 'Slurm cluster';
  readonly capabilities: ProviderCapabilities = {
    costTracking: true, liveLogs: true, cancel: true, resume: true, webhooks: false, listRemote: false, uploadsData: true,
  };
  private readonly byHost = new Map<string, { cluster: SlurmCluster; provider: SlurmProvider }>();

  constructor(
    private readonly clusters: () => SlurmCluster[],
    private readonly makeOptions: (cluster: SlurmCluster) => SlurmProviderOptions,
  ) {}

  /** The provider for one cluster (rebuilt when its settings changed). */
  forHost(host: string | undefined): SlurmProvider {
    const all = this.clusters();
    const cluster = host === undefined ? all[0] : all.find((c) => c.host === host);
    if (!cluster) {
      throw new Error(host === undefined || !all.length
        ? 'No Slurm cluster is configured: add one to the setting cloudTraining.slurm.clusters ({host, sharedDir})'
        : `No Slurm cluster "${host}" in cloudTraining.slurm.clusters (known: ${all.map((c) => c.host).join(', ')})`);
    }
    const known = this.byHost.get(cluster.host);
    if (known && JSON.stringify(known.cluster) === JSON.stringify(cluster)) return known.provider;
    void known?.provider.dispose();
    const provider = new SlurmProvider(this.makeOptions(cluster));
    this.byHost.set(cluster.host, { cluster, provider });
    return provider;
  }

  private forJob(job: Job): SlurmProvider {
    const host = job.metadata.clusterHost;
    return this.forHost(typeof host === 'string' ? host : undefined);
  }

  async validateCredentials(signal?: AbortSignal): Promise<CredentialCheck> {
    const all = this.clusters();
    if (!all.length) return { ok: false, message: 'No Slurm cluster is configured (setting cloudTraining.slurm.clusters)' };
    const checks = await Promise.all(all.map((c) => this.forHost(c.host).validateCredentials(signal)));
    return { ok: checks.every((c) => c.ok), message: checks.map((c) => c.message).join('; ') };
  }

  /** One choice per cluster, from settings alone: listing must not open SSH connections. */
  async listHardware(): Promise<HardwareOption[]> {
    return this.clusters().map((c) => ({
      id: c.partition ? `${c.host}/${c.partition}` : c.host,
      label: `${c.host}${c.partition ? ` (${c.partition})` : ''}`,
      detail: `shared folder ${c.sharedDir}${c.pricePerGpuHour ? `, $${c.pricePerGpuHour}/GPU-hour` : ''}`,
      ...(c.pricePerGpuHour ? { pricePerHour: c.pricePerGpuHour } : {}),
    }));
  }

  foldersToSync(request: SubmitRequest, workspace: string | undefined): Promise<SyncedFolder[]> {
    return foldersToSync(request, SlurmSubmitOptionsSchema.parse(request.options ?? {}), workspace ?? request.cwd);
  }

  submit(job: Job, request: SubmitRequest, ctx: ProviderContext): Promise<SubmitResult> {
    const { host, partition } = pickTarget(request);
    const options = { ...request.options } as Record<string, unknown>;
    if (partition) {
      const res = (options.resources ?? {}) as Record<string, unknown>;
      options.resources = { partition, ...res };
    }
    return this.forHost(host).submit(job, { ...request, options }, ctx);
  }

  status(job: Job, ctx: ProviderContext): Promise<StatusUpdate> { return this.forJob(job).status(job, ctx); }
  fetchLogs(job: Job, offset: number, ctx: ProviderContext): Promise<Buffer> { return this.forJob(job).fetchLogs(job, offset, ctx); }
  cancel(job: Job, ctx: ProviderContext): Promise<void> { return this.forJob(job).cancel(job, ctx); }
  finalize(job: Job, ctx: ProviderContext): Promise<FinalizeResult> { return this.forJob(job).finalize(job, ctx); }
  sampleGpus(job: Job, ctx: ProviderContext): Promise<string | undefined> { return this.forJob(job).sampleGpus(job, ctx); }

  async dispose(): Promise<void> {
    const all = [...this.byHost.values()];
    this.byHost.clear();
    await Promise.all(all.map((x) => x.provider.dispose()));
  }
}

/** `options.host` wins; else the hardware id "<host>" or "<host>/<partition>". */
export function pickTarget(request: SubmitRequest): { host?: string; partition?: string } {
  const host = typeof request.options?.host === 'string' ? request.options.host : undefined;
  if (host) return { host };
  if (!request.hardware) return {};
  const [h, p] = request.hardware.split('/');
  return { host: h || undefined, partition: p || undefined };
}
