import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { deliverFolder, planDestination, s3SecretName, HF_TOKEN_SECRET } from '../../../src/core/destinations/index';
import { TestServer, startTestServer } from '../server/helpers';

async function makeOutputs(dir: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {
    'README.md': Buffer.from('# my lora\n'),
    'config.json': Buffer.from('{"rank":16}'),
    'checkpoints/step-100/adapter.safetensors': randomBytes(6 * 1024 * 1024 + 3),
  };
  for (const [rel, data] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fs.writeFile(path.join(dir, rel), data);
  }
  return files;
}

describe('results destinations', function () {
  let t: TestServer;
  let out: string;
  let files: Record<string, Buffer>;
  beforeEach(async () => {
    t = await startTestServer();
    out = path.join(t.dir, 'outputs');
    files = await makeOutputs(out);
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('external S3: uploads the output folder (multipart for the big file) with the key from SecretStorage', async () => {
    const secrets = async (name: string) => (name === s3SecretName(t.admin.accessKeyId) ? t.admin.secretAccessKey : undefined);
    await fs.mkdir(path.join(t.storageDir, 'team-models'));
    const progress: number[] = [];
    const outputs = await deliverFolder(out, { kind: 's3', endpoint: t.server.storageEndpoint, bucket: 'team-models', prefix: 'loras', accessKeyId: t.admin.accessKeyId }, {
      jobId: 'job-7', secrets, env: {}, onProgress: (p) => progress.push(p.bytes),
    });
    for (const [rel, data] of Object.entries(files)) {
      assert.ok((await fs.readFile(path.join(t.storageDir, 'team-models', 'loras', 'job-7', ...rel.split('/')))).equals(data), rel);
    }
    assert.equal(outputs[0]!.kind, 's3');
    assert.equal(outputs[0]!.bytes, Object.values(files).reduce((n, b) => n + b.length, 0));
    assert.equal(progress[progress.length - 1], outputs[0]!.bytes);

    // No secret stored and none in the environment: a clear error, nothing sent.
    await assert.rejects(deliverFolder(out, { kind: 's3', endpoint: t.server.storageEndpoint, bucket: 'team-models', accessKeyId: 'OTHER' }, { jobId: 'j', secrets: async () => undefined, env: {} }),
      /No secret key stored/);
    // An aborted delivery stops.
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(deliverFolder(out, { kind: 's3', endpoint: t.server.storageEndpoint, bucket: 'team-models', accessKeyId: t.admin.accessKeyId }, { jobId: 'j2', secrets, env: {}, signal: ac.signal }));
  });

  it('local endpoint: the job gets the endpoint URL and credentials that only reach its own prefix', async () => {
    const plan = await planDestination({ kind: 'local' }, {
      jobId: 'job-42', secrets: async () => undefined, env: {},
      localServer: { minter: t.credentials, storageEndpoint: t.server.storageEndpoint, storageDir: t.storageDir },
    });
    assert.equal(plan.env.AWS_ENDPOINT_URL_S3, t.server.storageEndpoint);
    assert.equal(plan.env.S3_PREFIX, 'jobs/job-42/');
    assert.ok(plan.secretValues.includes(plan.env.AWS_SECRET_ACCESS_KEY!));
    assert.ok(!JSON.stringify(plan.settings).includes(plan.env.AWS_SECRET_ACCESS_KEY!), 'settings (stored on the job) carry no secret');

    // What the trainer would do with that environment.
    const job = new S3Client({ endpoint: plan.env.AWS_ENDPOINT_URL_S3, region: plan.env.AWS_DEFAULT_REGION, forcePathStyle: true,
      credentials: { accessKeyId: plan.env.AWS_ACCESS_KEY_ID!, secretAccessKey: plan.env.AWS_SECRET_ACCESS_KEY! } });
    try {
      await job.send(new PutObjectCommand({ Bucket: plan.env.S3_BUCKET, Key: `${plan.env.S3_PREFIX}lora.safetensors`, Body: 'weights' }));
      await assert.rejects(job.send(new PutObjectCommand({ Bucket: plan.env.S3_BUCKET, Key: 'jobs/job-43/lora.safetensors', Body: 'x' })), (e: Error) => e.name === 'AccessDenied');
    } finally {
      job.destroy();
    }
    assert.equal(await fs.readFile(path.join(plan.output.uri, 'lora.safetensors'), 'utf8'), 'weights');
    assert.deepEqual(t.stored.map((s) => s.key), ['jobs/job-42/lora.safetensors']);
    // The credential outlives a restart of the extension (persisted, 0600).
    const persisted = await fs.readFile(path.join(t.dir, 'home', 'server', 'creds.json'), 'utf8');
    assert.ok(persisted.includes(plan.env.AWS_ACCESS_KEY_ID!));
  });

  it('refuses the local endpoint when the server is not running', async () => {
    await assert.rejects(planDestination({ kind: 'local' }, { jobId: 'x', secrets: async () => undefined, env: {} }), /not running/);
  });

  describe('HuggingFace Hub', () => {
    /** A stand-in for the Hub's HTTP API (create repo, preupload, LFS batch + basic transfer, NDJSON commit). */
    let hub: http.Server;
    let hubUrl: string;
    const repo = new Map<string, Buffer>();
    const lfsStore = new Map<string, Buffer>();
    const seenAuth: string[] = [];
    beforeEach(async () => {
      repo.clear();
      lfsStore.clear();
      seenAuth.length = 0;
      hub = http.createServer(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const body = Buffer.concat(chunks);
        const url = req.url ?? '';
        seenAuth.push(String(req.headers.authorization ?? ''));
        const json = (status: number, v: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(v));
        if (req.headers.authorization !== 'Bearer hf_test_token' && !url.startsWith('/lfs-upload/')) return json(401, { error: 'bad token' });
        if (url === '/api/repos/create') return json(200, { url: `${hubUrl}/me/lora` });
        if (url === '/api/models/me/lora/preupload/main') {
          const { files } = JSON.parse(body.toString()) as { files: Array<{ path: string; size: number }> };
          return json(200, { files: files.map((f) => ({ path: f.path, uploadMode: f.size > 1024 * 1024 ? 'lfs' : 'regular', shouldIgnore: false })) });
        }
        if (url === '/me/lora.git/info/lfs/objects/batch') {
          const { objects } = JSON.parse(body.toString()) as { objects: Array<{ oid: string; size: number }> };
          return json(200, { objects: objects.map((o) => ({ ...o, actions: { upload: { href: `${hubUrl}/lfs-upload/${o.oid}`, header: { 'x-upload-token': 'signed' } } } })) });
        }
        if (url.startsWith('/lfs-upload/')) {
          assert.equal(req.headers['x-upload-token'], 'signed');
          assert.equal(req.headers.authorization, undefined, 'the Hub token is not sent to the storage URL');
          lfsStore.set(url.slice('/lfs-upload/'.length), body);
          return res.writeHead(200).end();
        }
        if (url === '/api/models/me/lora/commit/main') {
          for (const line of body.toString().trim().split('\n')) {
            const { key, value } = JSON.parse(line) as { key: string; value: { path: string; content?: string; oid?: string } };
            if (key === 'file') repo.set(value.path, Buffer.from(value.content!, 'base64'));
            if (key === 'lfsFile') repo.set(value.path, lfsStore.get(value.oid!)!);
          }
          return json(200, { commitUrl: `${hubUrl}/me/lora/commit/abc123`, commitOid: 'abc123' });
        }
        json(404, { error: `no route ${url}` });
      });
      await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
      hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
      hub.closeAllConnections();
      await new Promise<void>((r) => hub.close(() => r()));
    });

    it('pushes the folder: small files inline, large ones through LFS, token from HF_TOKEN', async () => {
      const outputs = await deliverFolder(out, { kind: 'huggingface', repoId: 'me/lora', endpoint: hubUrl }, { jobId: 'j', secrets: async () => undefined, env: { HF_TOKEN: 'hf_test_token' } });
      assert.deepEqual([...repo.keys()].sort(), Object.keys(files).sort());
      for (const [rel, data] of Object.entries(files)) assert.ok(repo.get(rel)!.equals(data), rel);
      const big = files['checkpoints/step-100/adapter.safetensors']!;
      assert.ok(lfsStore.has(createHash('sha256').update(big).digest('hex')), 'the big file went through LFS');
      assert.equal(outputs[0]!.uri, `${hubUrl}/me/lora/commit/abc123`);
    });

    it('plans a job push with the token from SecretStorage and fails clearly without one', async () => {
      const plan = await planDestination({ kind: 'huggingface', repoId: 'me/lora' }, { jobId: 'j', secrets: async (n) => (n === HF_TOKEN_SECRET ? 'hf_secret' : undefined), env: {} });
      assert.equal(plan.env.HF_TOKEN, 'hf_secret');
      assert.equal(plan.settings.hub_model_id, 'me/lora');
      assert.ok(!JSON.stringify(plan.settings).includes('hf_secret'));
      await assert.rejects(planDestination({ kind: 'huggingface', repoId: 'me/lora' }, { jobId: 'j', secrets: async () => undefined, env: {} }), /No HuggingFace token/);
      await assert.rejects(planDestination({ kind: 'huggingface', repoId: 'not a repo' }, { jobId: 'j', secrets: async () => undefined, env: { HF_TOKEN: 'x' } }));
      await assert.rejects(deliverFolder(out, { kind: 'huggingface', repoId: 'me/lora', endpoint: hubUrl }, { jobId: 'j', secrets: async () => undefined, env: { HF_TOKEN: 'wrong' } }), /401/);
    });
  });
});
