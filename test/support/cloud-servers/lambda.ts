/**
 * A local stand-in for the Lambda Cloud API v1, following its published reference
 * (https://docs.lambda.ai/api/cloud — OpenAPI "Lambda Cloud API" v1):
 *
 * - success bodies are `{"data": …}`; errors `{"error": {"code", "message", "suggestion"?}}` with the
 *   documented codes `global/invalid-api-key` (401), `global/object-does-not-exist` (404),
 *   `instance-operations/launch/insufficient-capacity` (400), `global/invalid-parameters` (400);
 * - GET /instance-types (`instance_type.price_cents_per_hour`, `regions_with_capacity_available`),
 *   POST /instance-operations/launch (`region_name`, `instance_type_name`, `ssh_key_names`, `name`,
 *   `quantity` → `instance_ids`), POST /instance-operations/terminate (`instance_ids` →
 *   `terminated_instances`), GET /instances, GET /instances/{id}, GET/POST /ssh-keys;
 * - instance `status`: booting → active → terminating → terminated (then 404);
 * - rate limits: launch one per 12 s (opt-in `launchRateLimit`), answered 429 with Retry-After.
 *
 * Each instance is a real sshd on 127.0.0.1 (its IP); the account's named keys are added to that
 * sshd's authorized_keys at launch, as Lambda does with `ssh_key_names`. Lambda instances always
 * listen on port 22, so the driver under test is given the sshd's port.
 */
import { randomBytes } from 'node:crypto';
import type { SshdFixture } from '../sshd';
import { BootCounter, StandInServer, authorize, type Reply } from './common';

export interface LambdaStandInOptions {
  apiKey: string;
  sshd: SshdFixture;
  /** Reads of an instance before it turns active (default 2). */
  bootPolls?: number;
  /** Reads after terminate before it is terminated (default 1). */
  terminatePolls?: number;
  /** Enforce the documented launch limit (one launch per 12 s). Off by default so tests can launch freely. */
  launchRateLimit?: boolean;
}

interface Inst { id: string; name: string; status: 'booting' | 'active' | 'terminating' | 'terminated'; type: string; region: string; keys: string[]; readsSinceTerminate: number }

const err = (status: number, code: string, message: string, suggestion?: string): Reply => ({ status, body: { error: { code, message, ...(suggestion ? { suggestion } : {}) } } });

export class LambdaStandIn {
  readonly server: StandInServer;
  readonly instances = new Map<string, Inst>();
  readonly sshKeys: { id: string; name: string; public_key: string }[] = [];
  /** Instance type → price (cents/h) and the regions that have capacity now. */
  readonly types = new Map<string, { description: string; price: number; regions: string[] }>([
    ['gpu_1x_a10', { description: '1x A10 (24 GB PCIe)', price: 75, regions: ['us-east-1', 'us-west-1'] }],
    ['gpu_1x_h100_pcie', { description: '1x H100 (80 GB PCIe)', price: 249, regions: [] }],
  ]);
  /** Every instance ever created (what would be billed). */
  created = 0;
  private readonly boot: BootCounter;

  constructor(private readonly o: LambdaStandInOptions) {
    this.boot = new BootCounter(() => o.bootPolls ?? 2);
    this.server = new StandInServer({
      apiKey: o.apiKey,
      unauthorized: err(401, 'global/invalid-api-key', 'API key was invalid, expired, or deleted.', 'Check your API key or create a new one, then try again.'),
      handler: (m, p, _q, b) => this.route(m, p, b),
      // "Requests to /instance-operations/launch are limited to one request per 12 seconds."
      rateLimits: o.launchRateLimit ? [{ method: 'POST', path: /\/instance-operations\/launch$/, max: 1, windowMs: 12_000, reply: () => err(429, 'global/too-many-requests', 'Too many requests', 'Wait before retrying') }] : [],
    });
  }

  get url(): string { return `${this.server.url}/api/v1`; }
  async start(port = 0): Promise<this> { await this.server.start(port); return this; }
  stop(): Promise<void> { return this.server.stop(); }

  /** Instances still billing (not terminated). */
  running(): Inst[] { return [...this.instances.values()].filter((i) => i.status !== 'terminated'); }

  private view(i: Inst) {
    const t = this.types.get(i.type)!;
    return {
      id: i.id,
      name: i.name,
      ip: i.status === 'active' ? this.o.sshd.host : null,
      private_ip: null,
      status: i.status,
      ssh_key_names: i.keys,
      file_system_names: [],
      region: { name: i.region, description: i.region },
      instance_type: { name: i.type, description: t.description, gpu_description: t.description, price_cents_per_hour: t.price, specs: { vcpus: 30, memory_gib: 200, storage_gib: 1400, gpus: 1 } },
      hostname: i.status === 'active' ? 'localhost' : null,
      is_reserved: false,
    };
  }

  private advance(i: Inst): void {
    if (i.status === 'booting' && this.boot.read(i.id)) i.status = 'active';
    else if (i.status === 'terminating' && ++i.readsSinceTerminate > (this.o.terminatePolls ?? 1)) i.status = 'terminated';
  }

  private async route(m: string, p: string, b: unknown): Promise<Reply> {
    const P = p.replace(/^\/api\/v1/, '');
    if (m === 'GET' && P === '/instance-types') {
      const data: Record<string, unknown> = {};
      for (const [name, t] of this.types) {
        data[name] = {
          instance_type: { name, description: t.description, gpu_description: t.description, price_cents_per_hour: t.price, specs: { vcpus: 30, memory_gib: 200, storage_gib: 1400, gpus: 1 } },
          regions_with_capacity_available: t.regions.map((r) => ({ name: r, description: r })),
        };
      }
      return { status: 200, body: { data } };
    }
    if (m === 'GET' && P === '/ssh-keys') return { status: 200, body: { data: this.sshKeys } };
    if (m === 'POST' && P === '/ssh-keys') {
      const { name, public_key } = (b ?? {}) as { name?: string; public_key?: string };
      if (!name || !public_key) return err(400, 'global/invalid-parameters', 'name and public_key are required');
      if (this.sshKeys.some((k) => k.name === name)) return err(400, 'global/invalid-parameters', 'An SSH key with this name already exists');
      const key = { id: randomBytes(16).toString('hex'), name, public_key };
      this.sshKeys.push(key);
      return { status: 200, body: { data: key } };
    }
    if (m === 'GET' && P === '/instances') {
      return { status: 200, body: { data: [...this.instances.values()].filter((i) => i.status !== 'terminated').map((i) => this.view(i)) } };
    }
    const one = /^\/instances\/([^/]+)$/.exec(P);
    if (m === 'GET' && one) {
      const i = this.instances.get(one[1]!);
      if (!i || i.status === 'terminated') return err(404, 'global/object-does-not-exist', 'Specified instance does not exist.');
      this.advance(i);
      return { status: 200, body: { data: this.view(i) } };
    }
    if (m === 'POST' && P === '/instance-operations/launch') return this.launch(b);
    if (m === 'POST' && P === '/instance-operations/terminate') {
      const ids = ((b ?? {}) as { instance_ids?: string[] }).instance_ids ?? [];
      const found = ids.map((id) => this.instances.get(id));
      if (!ids.length || found.some((i) => !i || i.status === 'terminated')) return err(404, 'global/object-does-not-exist', 'Specified instance does not exist.');
      for (const i of found) { i!.status = 'terminating'; i!.readsSinceTerminate = 0; }
      return { status: 200, body: { data: { terminated_instances: found.map((i) => this.view(i!)) } } };
    }
    return err(404, 'global/not-found', `No route ${m} ${p}`);
  }

  private async launch(b: unknown): Promise<Reply> {
    const req = (b ?? {}) as { region_name?: string; instance_type_name?: string; ssh_key_names?: string[]; name?: string; quantity?: number };
    if (!req.region_name || !req.instance_type_name || !Array.isArray(req.ssh_key_names) || req.ssh_key_names.length !== 1) {
      return err(400, 'global/invalid-parameters', 'region_name, instance_type_name and exactly one ssh_key_names entry are required');
    }
    const t = this.types.get(req.instance_type_name);
    if (!t) return err(400, 'global/invalid-parameters', `Unknown instance type ${req.instance_type_name}`);
    const keys = req.ssh_key_names.map((n) => this.sshKeys.find((k) => k.name === n));
    if (keys.some((k) => !k)) return err(400, 'global/invalid-parameters', 'Unknown SSH key name');
    if (!t.regions.includes(req.region_name)) {
      return err(400, 'instance-operations/launch/insufficient-capacity', 'Not enough capacity to fulfill launch request.', 'Try a different region or instance type.');
    }
    const id = randomBytes(16).toString('hex');
    this.instances.set(id, { id, name: req.name ?? '', status: 'booting', type: req.instance_type_name, region: req.region_name, keys: req.ssh_key_names, readsSinceTerminate: 0 });
    this.created++;
    await authorize(this.o.sshd, keys.map((k) => k!.public_key));
    return { status: 200, body: { data: { instance_ids: [id] } } };
  }
}
