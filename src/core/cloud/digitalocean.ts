/**
 * DigitalOcean API v2 client (Droplets, Sizes, SSH keys, Account).
 *
 * Follows the published reference: https://docs.digitalocean.com/reference/api/digitalocean/
 * (also rendered per call at https://docs.digitalocean.com/reference/pydo/reference/droplets/create).
 * Create answers 202 with `{droplet}` whose `status` starts at `new`, then `active`; `off` and
 * `archive` are the other documented states. Errors are `{"id": "…", "message": "…"}`; 429 carries
 * `ratelimit-*` headers and (per the rate-limit section) Retry-After.
 *
 * `dots-wrapper` (npm) covers this API but adds axios and its own error shapes; a few calls over
 * fetch with zod keep one error/secret discipline across the three providers.
 */
import { z } from 'zod';
import { CloudApiError, CloudHttp, type HttpOptions } from './http';
import type { CloudDriver, CloudInstance, GpuOffer, LaunchSpec } from './driver';
import { CLOUD_TAG } from './driver';
import { publicKeyBody } from './lambda';

export const DIGITALOCEAN_BASE_URL = 'https://api.digitalocean.com';

const NetworkV4 = z.object({ ip_address: z.string(), type: z.enum(['public', 'private']) });

export const DropletSchema = z.object({
  id: z.number(),
  name: z.string(),
  status: z.enum(['new', 'active', 'off', 'archive']),
  created_at: z.string().optional(),
  size_slug: z.string().optional(),
  size: z.object({ slug: z.string(), price_hourly: z.number().optional() }).optional(),
  region: z.object({ slug: z.string() }).optional(),
  networks: z.object({ v4: z.array(NetworkV4).default([]) }).default({ v4: [] }),
  tags: z.array(z.string()).default([]),
});
export type Droplet = z.infer<typeof DropletSchema>;

const SizeSchema = z.object({
  slug: z.string(),
  description: z.string().optional(),
  price_hourly: z.number(),
  regions: z.array(z.string()),
  available: z.boolean(),
  gpu_info: z.object({ count: z.number(), model: z.string().optional() }).optional(),
});

const SshKeySchema = z.object({ id: z.number(), fingerprint: z.string(), public_key: z.string(), name: z.string() });
const Links = z.object({ pages: z.object({ next: z.string().optional() }).partial().optional() }).partial().optional();

export interface DigitalOceanClientOptions extends Omit<HttpOptions, 'label' | 'keyHint' | 'baseUrl'> { baseUrl?: string }

export interface CreateDropletRequest {
  name: string;
  region: string;
  size: string;
  image: string;
  ssh_keys: (number | string)[];
  tags: string[];
  user_data?: string;
}

export class DigitalOceanClient {
  private readonly http: CloudHttp;
  constructor(o: DigitalOceanClientOptions) {
    this.http = new CloudHttp({ ...o, baseUrl: o.baseUrl ?? DIGITALOCEAN_BASE_URL, label: 'DigitalOcean', keyHint: 'a personal access token with droplet and ssh_key scopes, in DIGITALOCEAN_TOKEN or "Connect Cloud Account…"' });
  }

  async account(signal?: AbortSignal) {
    return (await this.http.request('GET', '/v2/account', z.object({ account: z.object({ email: z.string(), status: z.string(), droplet_limit: z.number().optional() }) }), { signal })).account;
  }

  async sizes(signal?: AbortSignal) {
    return (await this.http.request('GET', '/v2/sizes', z.object({ sizes: z.array(SizeSchema), links: Links }), { signal, query: { per_page: '200' } })).sizes;
  }

  async createDroplet(req: CreateDropletRequest): Promise<Droplet> {
    const out = await this.http.request('POST', '/v2/droplets', z.object({ droplet: DropletSchema }), {
      body: req,
      classify: (status, body) => {
        const msg = (body as { message?: string } | undefined)?.message ?? '';
        // The reference documents 422 unprocessable_entity for e.g. a size that is not available in the region.
        if (status === 422 && /not available|capacity|out of stock/i.test(msg)) {
          return { kind: 'capacity', message: `${req.size} is not available in ${req.region} right now (${msg}); nothing was created or billed.` };
        }
        return undefined;
      },
    });
    return out.droplet;
  }

  async getDroplet(id: number): Promise<Droplet | undefined> {
    try {
      return (await this.http.request('GET', `/v2/droplets/${id}`, z.object({ droplet: DropletSchema }))).droplet;
    } catch (e) {
      if (e instanceof CloudApiError && e.kind === 'not-found') return undefined;
      throw e;
    }
  }

  /** All droplets with `tag` (follows `links.pages.next`, bounded). */
  async listByTag(tag: string): Promise<Droplet[]> {
    const all: Droplet[] = [];
    for (let page = 1; page <= 50; page++) {
      const out = await this.http.request('GET', '/v2/droplets', z.object({ droplets: z.array(DropletSchema), links: Links }), { query: { tag_name: tag, per_page: '200', page: String(page) } });
      all.push(...out.droplets);
      if (!out.links?.pages?.next) break;
    }
    return all;
  }

  /** 204 on success; 404 means already gone. */
  async deleteDroplet(id: number): Promise<void> {
    try {
      await this.http.send('DELETE', `/v2/droplets/${id}`);
    } catch (e) {
      if (e instanceof CloudApiError && e.kind === 'not-found') return;
      throw e;
    }
  }

  async listKeys() {
    return (await this.http.request('GET', '/v2/account/keys', z.object({ ssh_keys: z.array(SshKeySchema), links: Links }), { query: { per_page: '200' } })).ssh_keys;
  }

  async addKey(name: string, publicKey: string) {
    return (await this.http.request('POST', '/v2/account/keys', z.object({ ssh_key: SshKeySchema }), { body: { name, public_key: publicKey } })).ssh_key;
  }
}

export class DigitalOceanDriver implements CloudDriver {
  readonly provider = 'digitalocean' as const;
  constructor(readonly client: DigitalOceanClient, private readonly opts: { sshPort?: number | ((instanceId: string) => number | undefined); image?: string } = {}) {}

  async whoami(signal?: AbortSignal): Promise<string> {
    return (await this.client.account(signal)).email;
  }

  async listGpus(signal?: AbortSignal): Promise<GpuOffer[]> {
    return (await this.client.sizes(signal)).filter((s) => s.gpu_info && s.available).map((s) => ({
      id: s.slug,
      label: s.description ?? `${s.gpu_info!.count}× ${s.gpu_info!.model ?? 'GPU'}`,
      pricePerHour: s.price_hourly,
      regions: s.regions,
    }));
  }

  async ensureSshKey(publicKey: string, name: string): Promise<string> {
    const body = publicKeyBody(publicKey);
    const existing = (await this.client.listKeys()).find((k) => publicKeyBody(k.public_key) === body);
    return String((existing ?? await this.client.addKey(name, publicKey)).id);
  }

  async launch(spec: LaunchSpec): Promise<string> {
    if (!spec.region) throw new CloudApiError('DigitalOcean: a region is required to launch', 'bad-request');
    const d = await this.client.createDroplet({
      name: spec.name,
      region: spec.region,
      size: spec.gpu,
      image: spec.image ?? this.opts.image ?? 'gpu-h100x1-base',
      ssh_keys: spec.sshKeyRef ? [Number(spec.sshKeyRef)] : [],
      tags: [CLOUD_TAG],
      user_data: spec.userData,
    });
    return String(d.id);
  }

  async get(id: string): Promise<CloudInstance | undefined> {
    const d = await this.client.getDroplet(Number(id));
    return d && this.view(d);
  }

  async listOurs(): Promise<CloudInstance[]> {
    return (await this.client.listByTag(CLOUD_TAG)).map((d) => this.view(d));
  }

  async destroy(id: string): Promise<void> {
    await this.client.deleteDroplet(Number(id));
  }

  private view(d: Droplet): CloudInstance {
    return {
      id: String(d.id),
      name: d.name,
      // `off` is still billed (a powered-off droplet keeps its resources); `archive` is not running.
      state: d.status === 'active' ? 'active' : d.status === 'new' ? 'pending' : d.status === 'off' ? 'stopped' : 'gone',
      providerState: d.status,
      host: d.networks.v4.find((n) => n.type === 'public')?.ip_address,
      port: (typeof this.opts.sshPort === 'function' ? this.opts.sshPort(String(d.id)) : this.opts.sshPort) ?? 22,
      pricePerHour: d.size?.price_hourly,
      gpu: d.size_slug ?? d.size?.slug,
      region: d.region?.slug,
    };
  }
}
