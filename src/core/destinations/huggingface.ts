import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as z from 'zod';
import type { JobOutput } from '../jobs/schema';
import { OutputFile, listOutputFiles } from './files';
import { DeliveryProgress, HF_TOKEN_SECRET, HuggingFaceDestination, SecretLookup } from './schema';

/**
 * Pushes a job's output folder to a HuggingFace Hub model repo with the Hub's HTTP API, as
 * huggingface_hub does: create the repo (409 = exists), ask `preupload` which files go through
 * LFS, upload those by the LFS batch API (content-addressed: files already on the Hub are skipped),
 * then one commit (NDJSON) holding small files inline and LFS pointers for the rest.
 */

export async function resolveHfToken(secrets: SecretLookup, env: NodeJS.ProcessEnv): Promise<string> {
  const token = (await secrets(HF_TOKEN_SECRET)) ?? env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  if (!token) throw new Error('No HuggingFace token: set HF_TOKEN or store one with "Cloud Training: Set HuggingFace Token".');
  return token;
}

const PreuploadSchema = z.object({ files: z.array(z.object({ path: z.string(), uploadMode: z.enum(['lfs', 'regular']), shouldIgnore: z.boolean().optional() })) });
const LfsBatchSchema = z.object({
  objects: z.array(z.object({
    oid: z.string(), size: z.number(),
    actions: z.object({
      upload: z.object({ href: z.string(), header: z.record(z.string(), z.string()).optional() }).optional(),
      verify: z.object({ href: z.string(), header: z.record(z.string(), z.string()).optional() }).optional(),
    }).optional(),
    error: z.object({ code: z.number(), message: z.string() }).optional(),
  })),
});
const CommitSchema = z.object({ commitUrl: z.string().optional(), commitOid: z.string().optional() });

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(c as Buffer);
  return h.digest('hex');
}

export async function uploadFolderToHub(opts: {
  folder: string; dest: HuggingFaceDestination; token: string; commitMessage?: string; signal?: AbortSignal; onProgress?: DeliveryProgress;
  fetchImpl?: typeof fetch;
  /** `dataset` for a dataset repo (the Hub's /api/datasets/… and /datasets/….git routes); default `model`. */
  repoType?: 'model' | 'dataset';
}): Promise<JobOutput[]> {
  const repoType = opts.repoType ?? 'model';
  const gitBase = repoType === 'dataset' ? 'datasets/' : '';
  const { dest, signal } = opts;
  const doFetch = opts.fetchImpl ?? fetch;
  const api = dest.endpoint.replace(/\/+$/, '');
  const auth = { Authorization: `Bearer ${opts.token}` };
  const call = async (url: string, init: RequestInit & { headers?: Record<string, string> }, okStatuses: number[] = []): Promise<Response> => {
    const res = await doFetch(url, { ...init, headers: { ...auth, ...(init.headers ?? {}) }, signal });
    if (!res.ok && !okStatuses.includes(res.status)) {
      const text = (await res.text()).slice(0, 300);
      throw new Error(`HuggingFace ${init.method ?? 'GET'} ${new URL(url).pathname} → ${res.status}: ${text}`);
    }
    return res;
  };

  const [owner, name] = dest.repoId.split('/') as [string, string];
  await call(`${api}/api/repos/create`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: repoType, name, organization: owner, private: dest.private }),
  }, [409]);

  const files = await listOutputFiles(opts.folder);
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  const samples = await Promise.all(files.map(async (f) => {
    const fh = await fs.open(f.abs, 'r');
    try {
      const buf = Buffer.alloc(Math.min(512, f.size));
      await fh.read(buf, 0, buf.length, 0);
      return { path: f.rel, size: f.size, sample: buf.toString('base64') };
    } finally {
      await fh.close();
    }
  }));
  const rev = encodeURIComponent(dest.revision);
  const pre = PreuploadSchema.parse(await (await call(`${api}/api/${repoType}s/${dest.repoId}/preupload/${rev}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ files: samples }),
  })).json());
  const mode = new Map(pre.files.map((f) => [f.path, f]));

  let sent = 0;
  const lfs: Array<OutputFile & { oid: string }> = [];
  const regular: OutputFile[] = [];
  for (const f of files) {
    const m = mode.get(f.rel);
    if (m?.shouldIgnore) continue;
    if (m?.uploadMode === 'lfs') lfs.push({ ...f, oid: await sha256File(f.abs) });
    else regular.push(f);
  }

  if (lfs.length) {
    const batch = LfsBatchSchema.parse(await (await call(`${api}/${gitBase}${dest.repoId}.git/info/lfs/objects/batch`, {
      method: 'POST',
      headers: { Accept: 'application/vnd.git-lfs+json', 'Content-Type': 'application/vnd.git-lfs+json' },
      body: JSON.stringify({ operation: 'upload', transfers: ['basic'], objects: lfs.map((f) => ({ oid: f.oid, size: f.size })), hash_algo: 'sha256', ref: { name: dest.revision } }),
    })).json());
    for (const obj of batch.objects) {
      if (obj.error) throw new Error(`HuggingFace LFS refused ${obj.oid}: ${obj.error.message}`);
      const f = lfs.find((x) => x.oid === obj.oid)!;
      if (obj.actions?.upload) {
        // LFS hrefs are pre-signed storage URLs: send their headers, not our token.
        const res = await doFetch(obj.actions.upload.href, {
          method: 'PUT', headers: { ...(obj.actions.upload.header ?? {}), 'Content-Length': String(f.size) },
          body: createReadStream(f.abs) as unknown as BodyInit, duplex: 'half', signal,
        } as RequestInit);
        if (!res.ok) throw new Error(`HuggingFace LFS upload of ${f.rel} → ${res.status}`);
        await res.arrayBuffer();
      }
      if (obj.actions?.verify) {
        await call(obj.actions.verify.href, {
          method: 'POST', headers: { ...(obj.actions.verify.header ?? {}), 'Content-Type': 'application/vnd.git-lfs+json' },
          body: JSON.stringify({ oid: f.oid, size: f.size }),
        });
      }
      sent += f.size;
      opts.onProgress?.({ bytes: sent, totalBytes, file: f.rel });
    }
  }

  const lines: string[] = [JSON.stringify({ key: 'header', value: { summary: opts.commitMessage ?? 'Upload training outputs', description: '' } })];
  for (const f of regular) {
    lines.push(JSON.stringify({ key: 'file', value: { path: f.rel, encoding: 'base64', content: (await fs.readFile(f.abs)).toString('base64') } }));
    sent += f.size;
  }
  for (const f of lfs) lines.push(JSON.stringify({ key: 'lfsFile', value: { path: f.rel, algo: 'sha256', oid: f.oid, size: f.size } }));
  const commit = CommitSchema.parse(await (await call(`${api}/api/${repoType}s/${dest.repoId}/commit/${rev}`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-ndjson' }, body: `${lines.join('\n')}\n`,
  })).json());
  opts.onProgress?.({ bytes: totalBytes, totalBytes });
  return [{ kind: 'huggingface', uri: commit.commitUrl ?? `${api}/${gitBase}${dest.repoId}`, label: `${dest.repoId}@${dest.revision}`, bytes: totalBytes }];
}
