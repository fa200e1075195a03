/**
 * RunPod REST API v1 client (Pods) plus the one GraphQL query the REST API has no equivalent for
 * (GPU types with prices).
 *
 * Follows the published reference: https://docs.runpod.io/api-reference/pods/POST/pods,
 * …/GET/pods, …/GET/pods/{podId}, …/POST/pods/{podId}/stop, …/DELETE/pods/{podId}
 * (server https://rest.runpod.io/v1), and https://docs.runpod.io/sdks/graphql/manage-pods
 * (`gpuTypes`). A pod's `desiredStatus` is RUNNING, EXITED or TERMINATED; SSH is reached through
 * `publicIp` and `portMappings["22"]` when the pod exposes `22/tcp` with `supportPublicIp`. Pods
 * with RunPod images put the `PUBLIC_KEY` env var into authorized_keys.
 *
 * The npm `runpod-sdk` (v1.1.x) covers serverless endpoints, not pods; hence this small client.
 */
import { z } from 'zod';
import { CloudApiError, CloudHttp, type HttpOptions } from './http';
import type { CloudDriver, CloudInstance, GpuOffer, LaunchSpec } from './driver';
import { CLOUD_TAG } from './driver';

export const RUNPOD_BASE_URL = 'https://rest.runpod.io/v1';
export const RUNPOD_GRAPHQL_URL = 'https://api.runpod.io/graphql';

export const PodSchema = z.object({
  id: z.string(),
  name: z.string().nullish(),
  desiredStatus: z.enum(['RUNNING', 'EXITED', 'TERMINATED']),
  // The reference's example shows a string ("0.74"); accept a number too.
  costPerHr: z.union([z.number(), z.string()]).optional().transform((v) => (v === undefined ? undefined : Number(v))),
  publicIp: z.string().nullish(),
  portMappings: z.record(z.string(), z.number()).nullish(),
  gpu: z.object({ id: z.string().optional(), count: z.number().optional(), displayName: z.string().optional() }).nullish(),
  machine: z.object({ dataCenterId: z.string().nullish() }).partial().nullish(),
});
export type Pod = z.infer<typeof PodSchema>;

const GpuTypesSchema = z.object({
  data: z.object({
    gpuTypes: z.array(z.object({
      id: z.string(),
      displayName: z.string(),
      memoryInGb: z.number().nullish(),
      securePrice: z.number().nullish(),
      communityPrice: z.number().nullish(),
    })),
  }),
});

export interface RunPodClientOptions extends Omit<HttpOptions, 'label' | 'keyHint' | 'baseUrl'> { baseUrl?: string; graphqlUrl?: string }

export interface CreatePodRequest {
  name: string;
  imageName: string;
  gpuTypeIds: string[];
  gpuCount: number;
  cloudType?: 'SECURE' | 'COMMUNITY';
  ports: string[];
  env: Record<string, string>;
  supportPublicIp: boolean;
  containerDiskInGb?: number;
  dataCenterIds?: string[];
}

const KEY_HINT = 'an API key from runpod.io → Settings → API Keys, in RUNPOD_API_KEY or "Connect Cloud Account…"';

export class RunPodClient {
  private readonly http: CloudHttp;
  private readonly gql: CloudHttp;
  constructor(o: RunPodClientOptions) {
    this.http = new CloudHttp({ ...o, baseUrl: o.baseUrl ?? RUNPOD_BASE_URL, label: 'RunPod', keyHint: KEY_HINT });
    this.gql = new CloudHttp({ ...o, baseUrl: o.graphqlUrl ?? RUNPOD_GRAPHQL_URL, label: 'RunPod', keyHint: KEY_HINT });
  }

  async listPods(query: { name?: string } = {}, signal?: AbortSignal): Promise<Pod[]> {
    return this.http.request('GET', '/pods', z.array(PodSchema), { query, signal });
  }

  async getPod(id: string): Promise<Pod | undefined> {
    try {
      return await this.http.request('GET', `/pods/${encodeURIComponent(id)}`, PodSchema);
    } catch (e) {
      if (e instanceof CloudApiError && e.kind === 'not-found') return undefined;
      throw e;
    }
  }

  async createPod(req: CreatePodRequest): Promise<Pod> {
    return this.http.request('POST', '/pods', PodSchema, {
      body: req,
      classify: (_status, body) => {
        const msg = typeof body === 'string' ? body : JSON.stringify(body ?? '');
        // Whatever the status, this text says no pod was made.
        if (/no longer any instances available|no instances? (currently )?available|insufficient capacity/i.test(msg)) {
          return { kind: 'capacity', message: `no ${req.gpuTypeIds.join('/')} available right now; nothing was created or billed.` };
        }
        return undefined;
      },
    });
  }

  async stopPod(id: string): Promise<void> {
    await this.http.send('POST', `/pods/${encodeURIComponent(id)}/stop`);
  }

  async deletePod(id: string): Promise<void> {
    try {
      await this.http.send('DELETE', `/pods/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e instanceof CloudApiError && e.kind === 'not-found') return;
      throw e;
    }
  }

  /** A read, but GraphQL sends it as POST, so the HTTP layer does not retry it. */
  async gpuTypes(signal?: AbortSignal) {
    const body = { query: 'query GpuTypes { gpuTypes { id displayName memoryInGb securePrice communityPrice } }' };
    return (await this.gql.request('POST', '', GpuTypesSchema, { body, signal })).data.gpuTypes;
  }
}

export class RunPodDriver implements CloudDriver {
  readonly provider = 'runpod' as const;
  constructor(readonly client: RunPodClient, private readonly opts: { image?: string } = {}) {}

  async whoami(signal?: AbortSignal): Promise<string> {
    await this.client.listPods({}, signal);
    return 'RunPod account';
  }

  async listGpus(signal?: AbortSignal): Promise<GpuOffer[]> {
    return (await this.client.gpuTypes(signal)).map((g) => ({
      id: g.id,
      label: g.displayName + (g.memoryInGb ? ` (${g.memoryInGb} GB)` : ''),
      pricePerHour: g.securePrice ?? g.communityPrice ?? undefined,
      regions: [],
    }));
  }

  /** RunPod takes the key per pod (PUBLIC_KEY env), not per account. */
  async ensureSshKey(): Promise<undefined> {
    return undefined;
  }

  async launch(spec: LaunchSpec): Promise<string> {
    const pod = await this.client.createPod({
      name: spec.name,
      imageName: spec.image ?? this.opts.image ?? 'runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04',
      gpuTypeIds: [spec.gpu],
      gpuCount: 1,
      cloudType: 'SECURE',
      ports: ['22/tcp'],
      env: { PUBLIC_KEY: spec.publicKey },
      supportPublicIp: true,
      ...(spec.region ? { dataCenterIds: [spec.region] } : {}),
    });
    return pod.id;
  }

  async get(id: string): Promise<CloudInstance | undefined> {
    const p = await this.client.getPod(id);
    return p && this.view(p);
  }

  async listOurs(): Promise<CloudInstance[]> {
    return (await this.client.listPods()).filter((p) => p.name?.startsWith(`${CLOUD_TAG}-`)).map((p) => this.view(p));
  }

  /** Terminate (DELETE), not stop: a stopped pod still bills its volume. */
  async destroy(id: string): Promise<void> {
    await this.client.deletePod(id);
  }

  private view(p: Pod): CloudInstance {
    const sshPort = p.portMappings?.['22'];
    const reachable = p.desiredStatus === 'RUNNING' && !!p.publicIp && sshPort !== undefined;
    return {
      id: p.id,
      name: p.name ?? '',
      state: p.desiredStatus === 'TERMINATED' ? 'gone' : p.desiredStatus === 'EXITED' ? 'stopped' : reachable ? 'active' : 'pending',
      providerState: p.desiredStatus,
      host: p.publicIp ?? undefined,
      port: sshPort,
      pricePerHour: p.costPerHr,
      gpu: p.gpu?.displayName ?? p.gpu?.id,
      region: p.machine?.dataCenterId ?? undefined,
    };
  }
}
