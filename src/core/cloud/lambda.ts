/**
 * Lambda Cloud API v1 client.
 *
 * Follows the published reference: https://docs.lambda.ai/api/cloud (OpenAPI "Lambda Cloud API" v1,
 * server https://cloud.lambdalabs.com/api/v1). Every success is `{"data": …}`, every failure
 * `{"error": {"code", "message", "suggestion"?}}`; the reference says to branch on `code`, not on
 * the message. Rate limits: ~1 request/s, launch 1 per 12 s. Instance `status`: booting, active,
 * unhealthy, terminating, terminated.
 *
 * No maintained npm client exists for this API; this is a small one over fetch.
 */
import { z } from 'zod';
import { CloudApiError, CloudHttp, type HttpOptions } from './http';
import type { CloudDriver, CloudInstance, GpuOffer, LaunchSpec } from './driver';
import { CLOUD_TAG } from './driver';

export const LAMBDA_BASE_URL = 'https://cloud.lambdalabs.com/api/v1';

const Region = z.object({ name: z.string(), description: z.string().optional() });

export const LambdaInstanceSchema = z.object({
  id: z.string(),
  name: z.string().nullish(),
  ip: z.string().nullish(),
  private_ip: z.string().nullish(),
  status: z.enum(['booting', 'active', 'unhealthy', 'terminating', 'terminated']),
  ssh_key_names: z.array(z.string()).default([]),
  region: Region.optional(),
  instance_type: z.object({
    name: z.string(),
    description: z.string().optional(),
    price_cents_per_hour: z.number().optional(),
  }).optional(),
  hostname: z.string().nullish(),
});
export type LambdaInstance = z.infer<typeof LambdaInstanceSchema>;

const InstanceTypesSchema = z.object({
  data: z.record(z.string(), z.object({
    instance_type: z.object({
      name: z.string(),
      description: z.string(),
      gpu_description: z.string().optional(),
      price_cents_per_hour: z.number(),
    }),
    regions_with_capacity_available: z.array(Region),
  })),
});

const SshKeySchema = z.object({ id: z.string(), name: z.string(), public_key: z.string() });

export interface LambdaClientOptions extends Omit<HttpOptions, 'label' | 'keyHint' | 'baseUrl'> { baseUrl?: string }

export class LambdaClient {
  private readonly http: CloudHttp;
  constructor(o: LambdaClientOptions) {
    this.http = new CloudHttp({ ...o, baseUrl: o.baseUrl ?? LAMBDA_BASE_URL, label: 'Lambda Cloud', keyHint: 'the key from cloud.lambda.ai → API keys, in LAMBDA_API_KEY or "Connect Cloud Account…"' });
  }

  async instanceTypes(signal?: AbortSignal) {
    return (await this.http.request('GET', '/instance-types', InstanceTypesSchema, { signal })).data;
  }

  async listInstances(): Promise<LambdaInstance[]> {
    return (await this.http.request('GET', '/instances', z.object({ data: z.array(LambdaInstanceSchema) }))).data;
  }

  /** undefined on 404 (`global/object-does-not-exist`). */
  async getInstance(id: string): Promise<LambdaInstance | undefined> {
    try {
      return (await this.http.request('GET', `/instances/${encodeURIComponent(id)}`, z.object({ data: LambdaInstanceSchema }))).data;
    } catch (e) {
      if (e instanceof CloudApiError && e.kind === 'not-found') return undefined;
      throw e;
    }
  }

  async launch(req: { region_name: string; instance_type_name: string; ssh_key_names: string[]; name: string; quantity?: number }): Promise<string[]> {
    const out = await this.http.request('POST', '/instance-operations/launch', z.object({ data: z.object({ instance_ids: z.array(z.string()) }) }), {
      body: { quantity: 1, ...req },
      classify: (status, body) => {
        const code = (body as { error?: { code?: string } } | undefined)?.error?.code;
        if (code === 'instance-operations/launch/insufficient-capacity') {
          return { kind: 'capacity', code, message: `no capacity for ${req.instance_type_name} in ${req.region_name} right now; nothing was launched or billed. Try another region or GPU type.` };
        }
        return undefined;
      },
    });
    return out.data.instance_ids;
  }

  async terminate(ids: string[]): Promise<void> {
    await this.http.request('POST', '/instance-operations/terminate', z.object({ data: z.object({ terminated_instances: z.array(LambdaInstanceSchema) }) }), { body: { instance_ids: ids } });
  }

  async listSshKeys() {
    return (await this.http.request('GET', '/ssh-keys', z.object({ data: z.array(SshKeySchema) }))).data;
  }

  async addSshKey(name: string, publicKey: string) {
    return (await this.http.request('POST', '/ssh-keys', z.object({ data: SshKeySchema }), { body: { name, public_key: publicKey } })).data;
  }
}

/** The key's type+base64 (comments differ between copies of one key). */
export function publicKeyBody(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ');
}

export class LambdaDriver implements CloudDriver {
  readonly provider = 'lambda' as const;
  constructor(readonly client: LambdaClient, private readonly opts: { sshPort?: number | ((instanceId: string) => number | undefined) } = {}) {}

  async whoami(signal?: AbortSignal): Promise<string> {
    await this.client.instanceTypes(signal); // Lambda has no account endpoint; this is its cheapest read
    return 'Lambda Cloud account';
  }

  async listGpus(signal?: AbortSignal): Promise<GpuOffer[]> {
    const types = await this.client.instanceTypes(signal);
    return Object.values(types).map((t) => ({
      id: t.instance_type.name,
      label: t.instance_type.gpu_description ?? t.instance_type.description,
      pricePerHour: t.instance_type.price_cents_per_hour / 100,
      regions: t.regions_with_capacity_available.map((r) => r.name),
    }));
  }

  async ensureSshKey(publicKey: string, name: string): Promise<string> {
    const body = publicKeyBody(publicKey);
    const existing = (await this.client.listSshKeys()).find((k) => publicKeyBody(k.public_key) === body);
    if (existing) return existing.name;
    return (await this.client.addSshKey(name, publicKey)).name;
  }

  async launch(spec: LaunchSpec): Promise<string> {
    if (!spec.region) throw new CloudApiError('Lambda Cloud: a region is required to launch', 'bad-request');
    if (!spec.sshKeyRef) throw new CloudApiError('Lambda Cloud: an SSH key name is required to launch', 'bad-request');
    const ids = await this.client.launch({ region_name: spec.region, instance_type_name: spec.gpu, ssh_key_names: [spec.sshKeyRef], name: spec.name });
    if (!ids[0]) throw new CloudApiError('Lambda Cloud: launch answered without an instance id', 'invalid-response');
    return ids[0];
  }

  async get(id: string): Promise<CloudInstance | undefined> {
    const i = await this.client.getInstance(id);
    return i && this.view(i);
  }

  async listOurs(): Promise<CloudInstance[]> {
    // The list endpoint has no filter: match our name prefix here.
    return (await this.client.listInstances()).filter((i) => i.name?.startsWith(`${CLOUD_TAG}-`)).map((i) => this.view(i));
  }

  async destroy(id: string): Promise<void> {
    try {
      await this.client.terminate([id]);
    } catch (e) {
      if (e instanceof CloudApiError && e.kind === 'not-found') return;
      throw e;
    }
  }

  private view(i: LambdaInstance): CloudInstance {
    const state = i.status === 'active' ? 'active' : i.status === 'booting' ? 'pending'
      : i.status === 'terminating' ? 'stopping' : i.status === 'terminated' ? 'gone' : 'pending';
    return {
      id: i.id,
      name: i.name ?? '',
      state,
      providerState: i.status,
      host: i.ip ?? undefined,
      port: (typeof this.opts.sshPort === 'function' ? this.opts.sshPort(String(i.id)) : this.opts.sshPort) ?? 22,
      pricePerHour: i.instance_type?.price_cents_per_hour !== undefined ? i.instance_type.price_cents_per_hour / 100 : undefined,
      gpu: i.instance_type?.name,
      region: i.region?.name,
    };
  }
}
