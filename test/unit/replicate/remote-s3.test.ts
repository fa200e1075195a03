import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CredentialStore, LocalServer, startLocalServer } from '../../../src/server';
import type { TrainerImage } from '../../support/replicate-server/cog-trainer';
import { Harness, startHarness, submitJob, trackToEnd, trainerOptions, writeZip } from './harness';

/** What the packager writes for a dataloader with two datasets, text-file captions (some multi-line) and repeats. */
async function richPackage(file: string): Promise<unknown[]> {
  const dataloader = [
    { id: 'portraits', type: 'local', instance_data_dir: 'datasets/portraits', caption_strategy: 'textfile', repeats: 3 },
    { id: 'styles', type: 'local', instance_data_dir: 'datasets/styles', caption_strategy: 'textfile' },
    { id: 'text-embeds', type: 'local', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/text' },
  ];
  const files: Record<string, string | Buffer> = {
    'datasets/portraits/p1.png': randomBytes(3000), 'datasets/portraits/p1.txt': 'a portrait of tok\na photo of tok, smiling',
    'datasets/portraits/p2.png': randomBytes(3000), 'datasets/portraits/p2.txt': 'tok_in_a_hat',
    'datasets/styles/s1.jpg': randomBytes(3000), 'datasets/styles/s1.txt': 'watercolour style',
  };
  const manifest = { version: 1, dataloader: 'multidatabackend.json', datasets: [], files: Object.entries(files).map(([p, d]) => ({ path: p, size: Buffer.byteLength(d), sha256: createHash('sha256').update(d).digest('hex') })) };
  await writeZip(file, { 'multidatabackend.json': JSON.stringify(dataloader), 'config/config.json': JSON.stringify({ '--max_train_steps': 10 }), 'manifest.json': JSON.stringify(manifest), ...files });
  return dataloader;
}

/** The SimpleTuner aws backend's reads, done with a real S3 client and the keys from the dataloader entry. */
function s3Of(entry: Record<string, unknown>): S3Client {
  return new S3Client({
    endpoint: String(entry.aws_endpoint_url), region: String(entry.aws_region_name), forcePathStyle: true,
    credentials: { accessKeyId: String(entry.aws_access_key_id), secretAccessKey: String(entry.aws_secret_access_key) },
  });
}
async function readAws(entry: Record<string, unknown>): Promise<TrainerImage[]> {
  const s3 = s3Of(entry);
  try {
    const list = await s3.send(new ListObjectsV2Command({ Bucket: String(entry.aws_bucket_name), Prefix: String(entry.aws_data_prefix) }));
    const keys = (list.Contents ?? []).map((o) => o.Key!);
    const out: TrainerImage[] = [];
    for (const k of keys.filter((x) => /\.(png|jpe?g)$/.test(x))) {
      const txt = await s3.send(new GetObjectCommand({ Bucket: String(entry.aws_bucket_name), Key: k.replace(/\.[^.]+$/, '.txt') }));
      const lines = (await txt.Body!.transformToString()).split('\n').filter(Boolean);
      out.push({ path: k, caption: lines.length === 1 ? lines[0]! : lines });
    }
    return out;
  } finally {
    s3.destroy();
  }
}

describe('replicate remote-data route over S3 (built-in endpoint, read-only per-job keys)', function () {
  this.timeout(40_000);
  let h: Harness;
  let local: LocalServer;
  let store: CredentialStore;
  let clock = Date.now();
  let stored = 0;
  beforeEach(async () => {
    clock = Date.now();
    stored = 0;
    store = new CredentialStore(undefined, () => clock);
    let storageDir = '';
    h = await startHarness({ localServer: () => ({ minter: store, storageEndpoint: local.storageEndpoint, storageDir }) });
    storageDir = path.join(h.dir, 'storage');
    local = await startLocalServer({ storageDir, credentials: store, onObjectStored: () => { stored++; } });
    h.server.readRemote = readAws;
    await richPackage(h.packagePath);
  });
  afterEach(async () => { await local.close(); await h.close(); });
  const opts = (data: unknown) => trainerOptions({ configJson: undefined, dataloaderJson: undefined, data });

  it('a dataloader the archive route cannot carry is refused before anything is uploaded, naming both ways out', async () => {
    await assert.rejects(submitJob(h, opts({ kind: 'auto' })), (e: Error) => {
      assert.match(e.message, /carries one image dataset; this config has 2/);
      assert.match(e.message, /--data s3:\/\/bucket\/prefix/);
      return true;
    });
    assert.equal(h.server.count('POST', /^\/files$/), 0);
    assert.equal(h.server.runs.size, 0);
    assert.equal(stored, 0);
  });

  it('automatic with a configured bucket: falls back to it when the archive route does not fit, and consent says why', async () => {
    const auto = opts({ kind: 'auto', fallback: { kind: 's3', bucket: 'datasets', prefix: 'team' } });
    const plan = await h.provider.planData({ packagePath: h.packagePath, packageId: 'pkg', options: auto }, { cacheDir: h.dir });
    assert.equal(plan?.summary.route, 'remote-s3');
    assert.match(plan!.summary.detail[0]!, /^Automatic: the archive route does not fit \(The archive route carries one image dataset; this config has 2 .*\), so the configured s3:\/\/datasets\/team is used instead\.$/);
    assert.equal(stored, 0, 'planning uploads nothing');
    const job = await submitJob(h, auto, { dataPlan: plan });
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'succeeded', h.server.runs.get(job.providerJobId!)!.trainerError);
    assert.deepEqual(h.server.runs.get(job.providerJobId!)!.trainer!.datasets.map((d) => d.id), ['portraits', 'styles']);
  });

  it('automatic with a configured bucket still takes the archive route when the dataloader fits it', async () => {
    await writeZip(h.packagePath, {
      'multidatabackend.json': JSON.stringify(trainerOptions().dataloaderJson), 'config/config.json': JSON.stringify(trainerOptions().configJson),
      'datasets/subjects/a_photo_of_tok.png': randomBytes(2000),
    });
    const plan = await h.provider.planData({ packagePath: h.packagePath, packageId: 'pkg2', options: opts({ kind: 'auto', fallback: { kind: 's3', bucket: 'datasets' } }) }, { cacheDir: h.dir });
    assert.equal(plan?.summary.route, 'archive');
    assert.ok(!plan!.summary.detail.some((l) => /Automatic/.test(l)));
  });

  it('goes green: datasets in the bucket once, dataloader rewritten to type aws, the trainer finds every image and caption', async () => {
    const plan = await h.provider.planData({ packagePath: h.packagePath, packageId: 'pkg', options: opts({ kind: 's3', bucket: 'datasets', prefix: 'team' }) }, { cacheDir: h.dir });
    assert.equal(plan?.summary.route, 'remote-s3');
    assert.match(plan!.summary.credentials!, /read-only keys .* one per dataset, each limited to its dataset's prefix, expiring after 24 h and revoked when the job ends/);
    assert.deepEqual(plan!.summary.changes, [], 'repeats and text-file captions are kept');
    assert.equal(stored, 0, 'planning uploads nothing');

    const job = await submitJob(h, opts({ kind: 's3', bucket: 'datasets', prefix: 'team' }), { dataPlan: plan });
    assert.equal(h.server.files.size, 0, 'nothing uploaded to Replicate itself');
    const run = h.server.runs.get(job.providerJobId!)!;
    assert.match(String(run.input.images), /^data:application\/zip;base64,/, 'the required images input is an empty archive, sent inline');
    const sent = JSON.parse(String(run.input.dataloader_json)) as Record<string, unknown>[];
    assert.deepEqual(sent.map((d) => d.type), ['aws', 'aws', 'local']);
    assert.equal(sent[0]!.repeats, 3);
    assert.ok(sent.every((d) => d.instance_data_dir === undefined));
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'succeeded', run.trainerError);
    const found = run.trainer!.datasets.map((d) => [d.id, d.images.map((i) => i.caption)]);
    assert.deepEqual(found, [
      ['portraits', [['a portrait of tok', 'a photo of tok, smiling'], 'tok_in_a_hat']],
      ['styles', ['watercolour style']],
    ]);
    assert.ok(!JSON.stringify(await h.history.list()).includes(String(sent[0]!.aws_secret_access_key)), 'no key in the job history');

    // The keys in the input: read-only, one prefix each, revoked when the job ended.
    const [a, b] = sent;
    await assert.rejects(s3Of(a!).send(new PutObjectCommand({ Bucket: 'datasets', Key: `${String(a!.aws_data_prefix)}x.png`, Body: 'x' })), /AccessDenied|revoked|InvalidAccessKeyId/);
    assert.equal(done.metadata.dataKeysRevoked, true);
    await assert.rejects(s3Of(a!).send(new ListObjectsV2Command({ Bucket: 'datasets', Prefix: String(a!.aws_data_prefix) })), /InvalidAccessKeyId|does not exist/);
    assert.notEqual(a!.aws_data_prefix, b!.aws_data_prefix);

    // The same datasets again: not uploaded again.
    const before = stored;
    const again = await submitJob(h, opts({ kind: 's3', bucket: 'datasets', prefix: 'team' }));
    assert.equal(stored, before, 'content-addressed: nothing stored twice');
    assert.ok(h.logs.some((l) => /already in datasets\/team\/datasets\//.test(l)));
    await trackToEnd(h, again.id);
  });

  it('while the job runs the keys read only their own dataset, never write, and expire', async () => {
    h.server.script = { ...h.server.script, chunkMs: 2000 };
    const job = await submitJob(h, opts({ kind: 's3', bucket: 'datasets', prefix: 'team' }));
    const [a, b] = JSON.parse(String(h.server.runs.get(job.providerJobId!)!.input.dataloader_json)) as Record<string, unknown>[];
    const s3 = s3Of(a!);
    try {
      const own = await s3.send(new ListObjectsV2Command({ Bucket: 'datasets', Prefix: String(a!.aws_data_prefix) }));
      assert.ok((own.Contents ?? []).length >= 4, 'reads its own dataset');
      await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'datasets', Key: `${String(a!.aws_data_prefix)}evil.png`, Body: 'x' })), /read-only|AccessDenied/);
      await assert.rejects(s3.send(new ListObjectsV2Command({ Bucket: 'datasets', Prefix: String(b!.aws_data_prefix) })), /AccessDenied|Access Denied/, 'not the other dataset');
      clock += 25 * 3600 * 1000;
      await assert.rejects(s3.send(new ListObjectsV2Command({ Bucket: 'datasets', Prefix: String(a!.aws_data_prefix) })), /expired|ExpiredToken/i);
    } finally {
      s3.destroy();
      clock = Date.now();
      await h.provider.cancel((await h.history.get(job.id))!, h.ctx);
    }
  });

  it('your own S3 service: refused unless a separate read-only key is named (the write key never goes to Replicate)', async () => {
    await assert.rejects(h.provider.planData({ packagePath: h.packagePath, options: opts({ kind: 's3', bucket: 'b', endpoint: 'https://s3.example.test', accessKeyId: 'AKIAWRITE' }) }, { cacheDir: h.dir }),
      /would be visible in your Replicate account; this route does not send your write key AKIAWRITE/);
  });
});
