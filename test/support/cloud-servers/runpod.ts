/**
 * A local stand-in for RunPod's REST API v1 (Pods) and the GraphQL `gpuTypes` query, following the
 * published reference: https://docs.runpod.io/api-reference/pods/POST/pods, …/GET/pods,
 * …/GET/pods/{podId}, …/POST/pods/{podId}/stop, …/DELETE/pods/{podId}, and
 * https://docs.runpod.io/sdks/graphql/manage-pods (`gpuTypes`).
 *
 * - create: `name`, `imageName`, `gpuTypeIds`, `gpuCount`, `ports` ("22/tcp"), `env`,
 *   `supportPublicIp` → 201 Pod; `desiredStatus` is RUNNING from the start (it is the *desired*
 *   state); `publicIp` and `portMappings` {"22": <public port>} appear once the pod is up;
 * - stop → EXITED; DELETE → TERMINATED for a read or two, then 404;
 * - `costPerHr` is a string as in the reference's example ("0.74").
 * - The reference pages do not show error bodies; this uses `{"error": "<text>", "status": N}`
 *   and the capacity text RunPod's API is known to return ("There are no longer any instances
 *   available with the requested specifications…"). Treat those two details as assumptions.
 *
 * Each pod is the real sshd on 127.0.0.1; the `PUBLIC_KEY` env goes into its authorized_keys,
 * as RunPod's images do at start.
 */
import { randomBytes } from 'node:crypto';
import type { SshdFixture } from '../sshd';
import { BootCounter, StandInServer, authorize, type Reply } from './common';

export interface RunPodStandInOptions { apiKey: string; sshd: SshdFixture; bootPolls?: number; deletePolls?: number }

interface Pod { id: string; name: string; desiredStatus: 'RUNNING' | 'EXITED' | 'TERMINATED'; gpu: string; up: boolean; readsSinceDelete?: number; env: Record<string, string> }

const err = (status: number, error: string): Reply => ({ status, body: { error, status } });
export const RUNPOD_NO_CAPACITY = 'There are no longer any instances available with the requested specifications. Please refresh and try again.';

export class RunPodStandIn {
  readonly server: StandInServer;
  readonly pods = new Map<string, Pod>();
  readonly gpuTypes = [
    { id: 'NVIDIA RTX A6000', displayName: 'RTX A6000', memoryInGb: 48, securePrice: 0.49, communityPrice: 0.33, available: true },
    { id: 'NVIDIA H100 80GB HBM3', displayName: 'H100 SXM', memoryInGb: 80, securePrice: 2.99, communityPrice: 2.69, available: false },
  ];
  created = 0;
  private readonly boot: BootCounter;

  constructor(private readonly o: RunPodStandInOptions) {
    this.boot = new BootCounter(() => o.bootPolls ?? 2);
    this.server = new StandInServer({ apiKey: o.apiKey, unauthorized: err(401, 'Unauthorized'), handler: (m, p, q, b) => this.route(m, p, q, b) });
  }

  get url(): string { return `${this.server.url}/v1`; }
  get graphqlUrl(): string { return `${this.server.url}/graphql`; }
  async start(): Promise<this> { await this.server.start(); return this; }
  stop(): Promise<void> { return this.server.stop(); }
  running(): Pod[] { return [...this.pods.values()].filter((p) => p.desiredStatus !== 'TERMINATED'); }

  private view(p: Pod) {
    const g = this.gpuTypes.find((x) => x.id === p.gpu)!;
    const reachable = p.up && p.desiredStatus === 'RUNNING';
    return {
      id: p.id, name: p.name, desiredStatus: p.desiredStatus, costPerHr: String(g.securePrice), adjustedCostPerHr: g.securePrice,
      image: 'runpod/pytorch', env: p.env, ports: ['22/tcp'], interruptible: false, locked: false,
      gpu: { id: g.id, count: 1, displayName: g.displayName, securePrice: g.securePrice, communityPrice: g.communityPrice },
      publicIp: reachable ? this.o.sshd.host : null,
      portMappings: reachable ? { '22': this.o.sshd.port } : {},
      machine: { dataCenterId: 'EU-RO-1', gpuTypeId: g.id },
      lastStartedAt: new Date().toISOString(),
    };
  }

  private async route(m: string, p: string, q: URLSearchParams, b: unknown): Promise<Reply> {
    if (m === 'POST' && p === '/graphql') {
      const query = String((b as { query?: unknown } | undefined)?.query ?? '');
      if (!/\bgpuTypes\b/.test(query)) return { status: 200, body: { errors: [{ message: 'unsupported query in stand-in' }] } };
      return { status: 200, body: { data: { gpuTypes: this.gpuTypes.map(({ available: _a, ...g }) => g) } } };
    }
    if (m === 'GET' && p === '/v1/pods') {
      const name = q.get('name');
      return { status: 200, body: this.running().filter((x) => !name || x.name === name).map((x) => this.view(x)) };
    }
    if (m === 'POST' && p === '/v1/pods') return this.create(b);
    const one = /^\/v1\/pods\/([^/]+)(\/stop)?$/.exec(p);
    const pod = one && this.pods.get(one[1]!);
    if (one && pod) {
      if (pod.desiredStatus === 'TERMINATED') {
        if (m === 'GET' && pod.readsSinceDelete!++ < (this.o.deletePolls ?? 1)) return { status: 200, body: this.view(pod) };
        return err(404, 'pod not found');
      }
      if (m === 'GET' && !one[2]) {
        if (!pod.up && this.boot.read(pod.id)) pod.up = true;
        return { status: 200, body: this.view(pod) };
      }
      if (m === 'POST' && one[2]) { pod.desiredStatus = 'EXITED'; return { status: 200, body: this.view(pod) } ; }
      if (m === 'DELETE' && !one[2]) { pod.desiredStatus = 'TERMINATED'; pod.readsSinceDelete = 0; return { status: 204 }; }
    }
    return err(404, 'pod not found');
  }

  private async create(b: unknown): Promise<Reply> {
    const req = (b ?? {}) as { name?: string; imageName?: string; gpuTypeIds?: string[]; gpuCount?: number; ports?: string[]; env?: Record<string, string>; supportPublicIp?: boolean };
    if (!req.imageName) return err(400, 'imageName is required');
    if (!Array.isArray(req.gpuTypeIds) || !req.gpuTypeIds.length) return err(400, 'gpuTypeIds is required for a GPU pod');
    const g = this.gpuTypes.find((x) => req.gpuTypeIds!.includes(x.id));
    if (!g) return err(400, `unknown gpuTypeIds ${req.gpuTypeIds.join(',')}`);
    if (!g.available) return err(400, RUNPOD_NO_CAPACITY);
    const id = randomBytes(7).toString('hex');
    const pod: Pod = { id, name: req.name ?? '', desiredStatus: 'RUNNING', gpu: g.id, up: false, env: req.env ?? {} };
    this.pods.set(id, pod);
    this.created++;
    // Only a pod exposing 22/tcp with a public IP is reachable; RunPod images authorise PUBLIC_KEY.
    if (req.ports?.includes('22/tcp') && req.supportPublicIp && req.env?.PUBLIC_KEY) await authorize(this.o.sshd, [req.env.PUBLIC_KEY]);
    return { status: 201, body: this.view(pod) };
  }
}
