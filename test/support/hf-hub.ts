import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the HuggingFace Hub's upload API for dataset repos, as huggingface_hub uses it
 * (https://huggingface.co/docs/huggingface_hub/guides/upload; the Hub's `preupload`, git-lfs batch
 * API with basic transfer, NDJSON `commit`): bearer auth, private repos, LFS objects stored once by
 * sha256 (a known object gets no upload action), commits kept by id.
 */
export class FakeHub {
  readonly token = 'hf_hubtoken_0123456789';
  url = '';
  readonly repos = new Map<string, { private: boolean; commits: Map<string, Map<string, Buffer>> }>();
  readonly lfs = new Map<string, Buffer>();
  lfsUploads = 0;
  private server?: http.Server;

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => { void this.handle(req, res); });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** The files of a repo at a commit (or its latest). */
  files(repo: string, revision?: string): Map<string, Buffer> | undefined {
    const r = this.repos.get(repo);
    if (!r) return undefined;
    return revision && revision !== 'main' ? r.commits.get(revision) : [...r.commits.values()].at(-1);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const json = (status: number, v: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v)); };
    const url = req.url ?? '/';
    let m: RegExpExecArray | null;
    if ((m = /^\/lfs-upload\/([0-9a-f]{64})$/.exec(url)) && req.method === 'PUT') {
      if (createHash('sha256').update(body).digest('hex') !== m[1]) return json(400, { error: 'sha256 mismatch' });
      this.lfs.set(m[1]!, body);
      this.lfsUploads++;
      return json(200, {});
    }
    if (req.headers.authorization !== `Bearer ${this.token}`) return json(401, { error: 'Invalid credentials in Authorization header' });
    if (url === '/api/repos/create' && req.method === 'POST') {
      const b = JSON.parse(body.toString()) as { type: string; name: string; organization: string; private: boolean };
      if (b.type !== 'dataset') return json(400, { error: 'this stand-in holds dataset repos only' });
      const id = `${b.organization}/${b.name}`;
      if (this.repos.has(id)) return json(409, { error: 'You already created this dataset repo' });
      this.repos.set(id, { private: b.private, commits: new Map() });
      return json(200, { url: `${this.url}/datasets/${id}` });
    }
    if ((m = /^\/api\/datasets\/([^/]+\/[^/]+)\/preupload\/main$/.exec(url))) {
      const b = JSON.parse(body.toString()) as { files: { path: string }[] };
      return json(200, { files: b.files.map((f) => ({ path: f.path, uploadMode: /\.(png|jpe?g|webp)$/i.test(f.path) ? 'lfs' : 'regular', shouldIgnore: false })) });
    }
    if ((m = /^\/datasets\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(url))) {
      const b = JSON.parse(body.toString()) as { objects: { oid: string; size: number }[] };
      return json(200, { objects: b.objects.map((o) => (this.lfs.has(o.oid) ? o : { ...o, actions: { upload: { href: `${this.url}/lfs-upload/${o.oid}` } } })) });
    }
    if ((m = /^\/api\/datasets\/([^/]+\/[^/]+)\/commit\/main$/.exec(url))) {
      const repo = this.repos.get(m[1]!);
      if (!repo) return json(404, { error: 'Repository not found' });
      const prev = [...repo.commits.values()].at(-1);
      const files = new Map(prev ?? []);
      for (const line of body.toString().split('\n').filter(Boolean)) {
        const { key, value } = JSON.parse(line) as { key: string; value: { path: string; content?: string; oid?: string } };
        if (key === 'file') files.set(value.path, Buffer.from(value.content!, 'base64'));
        if (key === 'lfsFile') {
          const data = this.lfs.get(value.oid!);
          if (!data) return json(400, { error: `LFS object ${value.oid} was never uploaded` });
          files.set(value.path, data);
        }
      }
      const oid = randomBytes(20).toString('hex');
      repo.commits.set(oid, files);
      return json(200, { commitUrl: `${this.url}/datasets/${m[1]}/commit/${oid}`, commitOid: oid });
    }
    return json(404, { error: `no route ${req.method} ${url}` });
  }
}
