/**
 * A local stand-in for the DigitalOcean API v2, following its published reference
 * (https://docs.digitalocean.com/reference/api/digitalocean/ — Droplets, Sizes, SSH Keys, Account):
 *
 * - POST /v2/droplets (`name`, `region`, `size`, `image`, `ssh_keys` as ids or fingerprints,
 *   `tags`, `user_data`) → 202 `{droplet, links: {actions}}`, `status` "new" then "active";
 *   GET /v2/droplets/{id}; GET /v2/droplets?tag_name=…; DELETE /v2/droplets/{id} → 204
 *   (the droplet lingers for a read or two, then 404); documented statuses new/active/off/archive;
 * - GET /v2/sizes (`slug`, `price_hourly`, `regions`, `available`, `gpu_info`), GET/POST
 *   /v2/account/keys (201 `{ssh_key}`), GET /v2/account;
 * - errors `{"id", "message"}`: 401 `unauthorized` "Unable to authenticate you", 404 `not_found`,
 *   422 `unprocessable_entity`, 429 `too_many_requests` with `ratelimit-*` headers and Retry-After
 *   (opt-in `rateLimit`; the documented limits are 5000/h and 250/min).
 *
 * Each droplet is a real sshd on 127.0.0.1. As on a real droplet, cloud-init applies `user_data`:
 * when it carries `ssh_keys.ed25519_private`, the droplet's sshd serves exactly that host key.
 * The account keys named in `ssh_keys` go into the droplet's authorized_keys.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSshd, type SshdFixture } from '../sshd';
import { BootCounter, StandInServer, authorize, type Reply } from './common';

// js-yaml is already in node_modules (a dependency of our toolchain); a real YAML parser reads the
// cloud-config the way cloud-init would, rather than a regexp shaped to our own output.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require('js-yaml') as { load(s: string): unknown };

export interface DigitalOceanStandInOptions {
  apiKey: string;
  /** The machine handed out when user_data injects no host key. */
  sshd: SshdFixture;
  bootPolls?: number;
  /** Reads a deleted droplet is still visible (default 1). */
  deletePolls?: number;
  /** Enforce a request limit (the documented one is 250 per minute); off by default. */
  rateLimit?: { max: number; windowMs: number };
}

interface Droplet { id: number; name: string; status: 'new' | 'active' | 'off' | 'archive'; size: string; region: string; tags: string[]; created_at: string; sshd: SshdFixture; ownSshd: boolean; deleted?: number; userData?: string }

const err = (status: number, id: string, message: string, headers?: Record<string, string>): Reply => ({ status, body: { id, message, request_id: 'standin' }, headers });

export class DigitalOceanStandIn {
  readonly server: StandInServer;
  readonly droplets = new Map<number, Droplet>();
  readonly keys: { id: number; fingerprint: string; public_key: string; name: string }[] = [];
  readonly sizes = [
    { slug: 'gpu-h100x1-80gb', description: 'H100 GPU Droplet', price_hourly: 3.39, price_monthly: 2522.16, regions: ['nyc2', 'tor1'], available: true, gpu_info: { count: 1, model: 'nvidia_h100', vram: { amount: 80, unit: 'gib' } }, memory: 245760, vcpus: 20, disk: 720, transfer: 15 },
    { slug: 's-1vcpu-1gb', description: 'Basic', price_hourly: 0.00893, price_monthly: 6, regions: ['nyc1'], available: true, memory: 1024, vcpus: 1, disk: 25, transfer: 1 },
  ];
  created = 0;
  private nextId = 3164444;
  private readonly boot: BootCounter;

  constructor(private readonly o: DigitalOceanStandInOptions) {
    this.boot = new BootCounter(() => o.bootPolls ?? 2);
    this.server = new StandInServer({
      apiKey: o.apiKey,
      unauthorized: err(401, 'unauthorized', 'Unable to authenticate you'),
      handler: (m, p, q, b) => this.route(m, p, q, b),
      // 429 with `ratelimit-*` headers, and Retry-After since 2023 (docs.digitalocean.com/notes/2023/api-rate-limit).
      rateLimits: o.rateLimit ? [{ path: /^\/v2\//, ...o.rateLimit, reply: (retryAfterS) => err(429, 'too_many_requests', 'API Rate limit exceeded.', {
        'ratelimit-limit': String(o.rateLimit!.max), 'ratelimit-remaining': '0', 'ratelimit-reset': String(Math.ceil(Date.now() / 1000) + retryAfterS),
      }) }] : [],
    });
  }

  get url(): string { return this.server.url; }
  async start(): Promise<this> { await this.server.start(); return this; }
  async stop(): Promise<void> {
    await this.server.stop();
    for (const d of this.droplets.values()) if (d.ownSshd) await d.sshd.stop();
  }

  running(): Droplet[] { return [...this.droplets.values()].filter((d) => d.deleted === undefined); }

  private view(d: Droplet) {
    const s = this.sizes.find((x) => x.slug === d.size)!;
    return {
      id: d.id, name: d.name, memory: s.memory, vcpus: s.vcpus, disk: s.disk, locked: false, status: d.status,
      created_at: d.created_at, features: [], backup_ids: [], snapshot_ids: [], image: { slug: 'gpu-h100x1-base' },
      size: s, size_slug: d.size, region: { slug: d.region, name: d.region, available: true },
      networks: { v4: d.status === 'active' ? [{ ip_address: d.sshd.host, netmask: '255.255.255.0', gateway: '127.0.0.254', type: 'public' }] : [], v6: [] },
      tags: d.tags, volume_ids: [],
    };
  }

  private async route(m: string, p: string, q: URLSearchParams, b: unknown): Promise<Reply> {
    if (m === 'GET' && p === '/v2/account') return { status: 200, body: { account: { droplet_limit: 25, floating_ip_limit: 3, email: 'sammy@example.com', uuid: 'b6fr89dbf6d9156cace5f3c78dc9851d957381ef', email_verified: true, status: 'active', status_message: '' } } };
    if (m === 'GET' && p === '/v2/sizes') return { status: 200, body: { sizes: this.sizes, links: {}, meta: { total: this.sizes.length } } };
    if (m === 'GET' && p === '/v2/account/keys') return { status: 200, body: { ssh_keys: this.keys, links: {}, meta: { total: this.keys.length } } };
    if (m === 'POST' && p === '/v2/account/keys') {
      const { name, public_key } = (b ?? {}) as { name?: string; public_key?: string };
      if (!name || !public_key) return err(422, 'unprocessable_entity', 'Name and public key are required');
      const body = public_key.trim().split(/\s+/).slice(0, 2).join(' ');
      if (this.keys.some((k) => k.public_key.trim().split(/\s+/).slice(0, 2).join(' ') === body)) return err(422, 'unprocessable_entity', 'SSH Key is already in use on your account');
      const key = { id: 512189 + this.keys.length, fingerprint: `3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:${String(this.keys.length).padStart(2, '0')}`, public_key, name };
      this.keys.push(key);
      return { status: 201, body: { ssh_key: key } };
    }
    if (m === 'GET' && p === '/v2/droplets') {
      const tag = q.get('tag_name');
      const list = this.running().filter((d) => !tag || d.tags.includes(tag)).map((d) => this.view(d));
      return { status: 200, body: { droplets: list, links: {}, meta: { total: list.length } } };
    }
    if (m === 'POST' && p === '/v2/droplets') return this.create(b);
    const one = /^\/v2\/droplets\/(\d+)$/.exec(p);
    if (one) {
      const d = this.droplets.get(Number(one[1]));
      const notFound = err(404, 'not_found', 'The resource you were accessing could not be found.');
      if (!d) return notFound;
      if (d.deleted !== undefined) {
        // Deletion is asynchronous: the droplet stays visible a little, then 404.
        if (m === 'GET' && d.deleted++ < (this.o.deletePolls ?? 1)) return { status: 200, body: { droplet: this.view(d) } };
        this.droplets.delete(d.id);
        if (d.ownSshd) await d.sshd.stop();
        return notFound;
      }
      if (m === 'GET') {
        if (d.status === 'new' && this.boot.read(String(d.id))) d.status = 'active';
        return { status: 200, body: { droplet: this.view(d) } };
      }
      if (m === 'DELETE') { d.deleted = 0; return { status: 204 }; }
    }
    return err(404, 'not_found', 'The resource you were accessing could not be found.');
  }

  private async create(b: unknown): Promise<Reply> {
    const req = (b ?? {}) as { name?: string; region?: string; size?: string; image?: string; ssh_keys?: (number | string)[]; tags?: string[]; user_data?: string };
    if (!req.name || !req.region || !req.size || !req.image) return err(422, 'unprocessable_entity', 'name, region, size and image are required');
    if (typeof req.name !== 'string' || !/^[a-zA-Z0-9.-]+$/.test(req.name)) return err(422, 'unprocessable_entity', 'Name is invalid: only a-z, A-Z, 0-9, . and - are allowed');
    for (const t of req.tags ?? []) if (!/^[a-zA-Z0-9_\-:]{1,255}$/.test(t)) return err(422, 'unprocessable_entity', `Tag ${t} is invalid`);
    const size = this.sizes.find((s) => s.slug === req.size);
    if (!size) return err(422, 'unprocessable_entity', 'You specified an invalid size for Droplet creation.');
    if (!size.available || !size.regions.includes(req.region)) return err(422, 'unprocessable_entity', 'Size is not available in this region.');
    const keys = (req.ssh_keys ?? []).map((k) => this.keys.find((x) => x.id === k || x.fingerprint === k));
    if (keys.some((k) => !k)) return err(422, 'unprocessable_entity', 'SSH key not found');

    let sshd = this.o.sshd;
    let ownSshd = false;
    const hostKey = hostKeyFromUserData(req.user_data);
    if (hostKey) {
      const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-do-hostkey-'));
      const file = path.join(tmp, 'ssh_host_ed25519_key');
      await fs.writeFile(file, hostKey, { mode: 0o600 });
      sshd = await startSshd({ hostKeyPath: file });
      await fs.rm(tmp, { recursive: true, force: true });
      ownSshd = true;
    }
    await authorize(sshd, keys.map((k) => k!.public_key));
    const d: Droplet = { id: this.nextId++, name: req.name, status: 'new', size: req.size, region: req.region, tags: req.tags ?? [], created_at: new Date().toISOString(), sshd, ownSshd, userData: req.user_data };
    this.droplets.set(d.id, d);
    this.created++;
    return { status: 202, body: { droplet: this.view(d), links: { actions: [{ id: 7515 + d.id, rel: 'create', href: `${this.url}/v2/actions/${7515 + d.id}` }] } } };
  }

  /** The sshd of a droplet (for tests that reach "the machine" directly). */
  sshdOf(id: string): SshdFixture | undefined { return this.droplets.get(Number(id))?.sshd; }
}

/** cloud-init's `ssh_keys: {ed25519_private: …}` from a `#cloud-config` document. */
function hostKeyFromUserData(userData: string | undefined): string | undefined {
  if (!userData?.startsWith('#cloud-config')) return undefined;
  const doc = yaml.load(userData) as { ssh_keys?: { ed25519_private?: string } } | undefined;
  return doc?.ssh_keys?.ed25519_private;
}
