import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { newJob } from '../../../src/core/jobs/factory';
import { JobSchema } from '../../../src/core/jobs/schema';
import { dataLayout } from '../../../src/core/paths';
import { consentSummary } from '../../../src/core/submit/pipeline';
import { parseDataFlag, planArchive, REPLICATE_UPLOAD_LIMIT_BYTES, type PackageIndex } from '../../../src/providers/replicate/data-route';
import { COG_REQUIRED_TRAINER_INPUTS, trainerSchema } from '../../support/replicate-server/schemas';
import { EMPTY_ZIP } from '../../../src/providers/replicate/archive';
import { Harness, startHarness, submitJob, trackToEnd, trainerOptions, waitFor, writeZip } from './harness';

const index = (sizes: Record<string, number>, texts: Record<string, string> = {}): PackageIndex => ({ sizes: new Map(Object.entries(sizes)), texts: new Map(Object.entries(texts)) });
const image = { id: 'img', type: 'local', instance_data_dir: 'datasets/img', caption_strategy: 'textfile', crop: true, crop_style: 'center' };

describe('replicate data route: what the archive route can carry', () => {
  it('textfile captions become file names; duplicates go one folder down; differences are listed', () => {
    const p = planArchive([{ ...image, repeats: 2, minimum_image_size: 16 }, { id: 't', dataset_type: 'text_embeds' }], { '--resolution': 512 },
      index({ 'datasets/img/a.png': 10, 'datasets/img/b.png': 10, 'datasets/img/sub/c.jpg': 10, 'datasets/img/a.txt': 5, 'datasets/img/b.txt': 5, 'datasets/img/sub/c.txt': 5 },
        { 'datasets/img/a.txt': 'a red fox\n', 'datasets/img/b.txt': 'a red fox', 'datasets/img/sub/c.txt': 'a blue whale, 8-bit' }));
    assert.ok(p.ok, JSON.stringify(p));
    assert.deepEqual(p.files.map((f) => f.to), ['a red fox.png', '2/a red fox.png', 'sub/a blue whale, 8-bit.jpg']);
    assert.ok(p.changes.includes('repeats: 2 will not apply (each image is seen once per epoch)'));
    assert.ok(p.changes.includes('minimum_image_size: 16 will not apply'));
  });

  it('filename captions keep their names; resolution differing from the config is named', () => {
    const p = planArchive([{ id: 'img', instance_data_dir: 'datasets/img', resolution: 1024 }], { '--resolution': 512 }, index({ 'datasets/img/tok_dog.png': 1 }));
    assert.ok(p.ok);
    assert.deepEqual(p.files.map((f) => [f.to, f.caption]), [['tok_dog.png', 'tok dog']]);
    assert.ok(p.changes.some((c) => c.startsWith('resolution: 1024 → 512')));
    assert.ok(p.changes.some((c) => c.startsWith('crop: off → centre crop')));
  });

  it('refuses what it cannot express: several image datasets, video, remote entries, other caption strategies', () => {
    const two = planArchive([image, { ...image, id: 'img2', instance_data_dir: 'datasets/img2' }], {}, index({}));
    assert.ok(!two.ok && /carries one image dataset; this config has 2/.test(two.reasons[0]!));
    const video = planArchive([{ ...image, dataset_type: 'video' }], {}, index({}));
    assert.ok(!video.ok && video.reasons.some((r) => /video dataset/.test(r)));
    const remote = planArchive([{ ...image, type: 'aws' }], {}, index({}));
    assert.ok(!remote.ok && remote.reasons.some((r) => /type "aws"/.test(r)));
    const parquet = planArchive([{ ...image, caption_strategy: 'parquet' }], {}, index({ 'datasets/img/a.png': 1 }));
    assert.ok(!parquet.ok && /takes its captions from "parquet"/.test(parquet.reasons[0]!));
  });

  it('the 100 MiB Files API limit is checked before anything is built or uploaded', () => {
    const big = planArchive([{ ...image, caption_strategy: 'filename' }], {}, index({ 'datasets/img/a.png': 60 * 1048576, 'datasets/img/b.png': 60 * 1048576 }));
    assert.ok(!big.ok && /about 120\.0 MiB; Replicate's Files API accepts up to 100 MiB/.test(big.reasons[0]!));
    assert.equal(REPLICATE_UPLOAD_LIMIT_BYTES, 100 * 1024 * 1024);
  });

  it('--data parses archive, s3:// and hf: and refuses anything else', () => {
    assert.deepEqual(parseDataFlag('archive'), { kind: 'archive' });
    assert.deepEqual(parseDataFlag('s3://my-bucket/some/prefix/'), { kind: 's3', bucket: 'my-bucket', prefix: 'some/prefix' });
    assert.deepEqual(parseDataFlag('hf:me/pixel-art'), { kind: 'hf', repo: 'me/pixel-art' });
    assert.throws(() => parseDataFlag('ftp://x'), /--data expects/);
    assert.throws(() => parseDataFlag('s3://'), /--data expects/);
  });

  it('"always allow" for Replicate does not cover the S3 route: it is remembered under its own key', () => {
    const provider = { displayName: 'Replicate' } as never;
    const plan = (route: 'archive' | 'remote-s3') => ({ summary: { route, title: 't', detail: [], changes: [] }, details: {} });
    assert.equal(consentSummary({ provider: 'replicate' }, provider, undefined, plan('archive')).provider, 'replicate');
    assert.equal(consentSummary({ provider: 'replicate' }, provider, undefined, plan('remote-s3')).provider, 'replicate:remote-s3');
  });

  it('old history: packageSha256 (which held the manifest identity) reads back as packageId', () => {
    const job = JobSchema.parse({ ...newJob(dataLayout('/tmp/ct-legacy'), { provider: 'replicate' }), metadata: { packageSha256: 'ab'.repeat(32), uploadFileId: 'f1' } });
    assert.deepEqual(job.metadata, { packageId: 'ab'.repeat(32), uploadFileId: 'f1' });
  });
});

describe('replicate stand-in trainer follows SimpleTuner cog.py', function () {
  this.timeout(30_000);
  let h: Harness;
  beforeEach(async () => { h = await startHarness(); });
  afterEach(async () => { await h.close(); });

  async function direct(input: Record<string, unknown>) {
    const version = h.server.versionsOf('simpletuner/advanced-trainer-l40s').at(-1)!;
    const res = await fetch(`${h.server.base}/predictions`, { method: 'POST', headers: { authorization: `Bearer ${h.server.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ version, input }) });
    return { status: res.status, body: await res.json() as { id: string; detail?: string } };
  }
  const required = { config_json: '{"--max_train_steps": 2}', max_train_steps: 2, hf_token: '', lycoris_config: '' };

  it('serves the schema as current Cog: non-Optional inputs are required, and a create without them is refused (422)', async () => {
    const v = (await (await fetch(`${h.server.base}/models/simpletuner/advanced-trainer-l40s/versions`, { headers: { authorization: `Bearer ${h.server.token}` } })).json()) as { results: { openapi_schema: { components: { schemas: { Input: { required: string[] } } } } }[] };
    assert.deepEqual(v.results[0]!.openapi_schema.components.schemas.Input.required, COG_REQUIRED_TRAINER_INPUTS);
    const r = await direct({ config_json: '{}' });
    assert.equal(r.status, 422);
    assert.match(r.body.detail!, /images is required/);
  });

  it('with a dataloader it never looks at the archive: a local dataset folder is not on its disk, so the prediction fails (what the seed did)', async () => {
    const r = await direct({ ...required, images: 'https://example.invalid/x.zip', dataloader_json: JSON.stringify([{ id: 'subjects', type: 'local', instance_data_dir: 'datasets/subjects' }]) });
    assert.equal(r.status, 201);
    const run = h.server.runs.get(r.body.id)!;
    await waitFor(() => (run.status === 'failed' ? true : undefined));
    assert.match(String(run.error), /instance_data_dir "datasets\/subjects" does not exist on the trainer/);
    assert.equal(run.trainer, undefined);
  });

  it('without one it unpacks the archive and captions from file names; an archive without images fails', async () => {
    const zipFile = path.join(h.dir, 'imgs.zip');
    await writeZip(zipFile, { 'tok_on_a_bike.png': Buffer.alloc(10), 'sub/a red fox.jpg': Buffer.alloc(10), 'a red fox.txt': 'ignored: not an image' });
    const ok = await direct({ ...required, dataloader_json: '', images: `data:application/zip;base64,${(await fs.readFile(zipFile)).toString('base64')}` });
    const good = h.server.runs.get(ok.body.id)!;
    await waitFor(() => (good.ready ? true : undefined));
    assert.equal(good.trainer?.route, 'archive');
    assert.deepEqual(good.trainer.datasets[0]!.images.map((i) => i.caption).sort(), ['a red fox', 'tok on a bike']);

    const r = await direct({ ...required, dataloader_json: '', images: `data:application/zip;base64,${EMPTY_ZIP.toString('base64')}` });
    const run = h.server.runs.get(r.body.id)!;
    await waitFor(() => (run.status === 'failed' ? true : undefined));
    assert.match(String(run.error), /no images found/);
  });

  it('an older Cog schema (nothing required): the archive route sends no dataloader_json at all, and still trains on every image', async () => {
    const m = h.server.addModel('simpletuner', 'advanced-trainer-l40s-x2', [trainerSchema({ required: [] })]);
    m.cogTrainer = true;
    const job = await submitJob(h, trainerOptions());
    const run = h.server.runs.get(job.providerJobId!)!;
    assert.deepEqual(Object.keys(run.input).sort(), ['config_json', 'images', 'max_train_steps']);
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'succeeded', run.trainerError);
    assert.equal(run.trainer?.datasets[0]?.images.length, 2);
  });

  it('a submitted job goes green on the archive route: every image found with its caption', async () => {
    const job = await submitJob(h, trainerOptions());
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'succeeded');
    const run = h.server.runs.get(job.providerJobId!)!;
    assert.equal(run.trainer?.route, 'archive');
    assert.deepEqual(run.trainer.datasets[0]!.images.map((i) => i.caption).sort(), ['a photo of tok', 'tok at the beach']);
    assert.equal(run.trainer.maxTrainSteps, 4);
  });
});

describe('replicate declared inputs', function () {
  this.timeout(30_000);
  let h: Harness;
  beforeEach(async () => { h = await startHarness(); });
  afterEach(async () => { await h.close(); });

  it('the LyCORIS config named by the training config travels inline from the workspace', async () => {
    const ws = path.join(h.dir, 'ws');
    await fs.mkdir(path.join(ws, 'config'), { recursive: true });
    await fs.writeFile(path.join(ws, 'config', 'lycoris_config.json'), '{"algo": "lokr", "factor": 16}');
    const cfg = { '--max_train_steps': 4, '--lora_type': 'lycoris', '--lycoris_config': 'config/lycoris_config.json' };
    const job = await submitJob(h, trainerOptions({ configJson: cfg }), { trainingConfigPath: path.join(ws, 'config', 'config.json'), cwd: ws });
    const run = h.server.runs.get(job.providerJobId!)!;
    assert.deepEqual(JSON.parse(run.input.lycoris_config as string), { algo: 'lokr', factor: 16 });
    await waitFor(() => (run.ready ? true : undefined));
    assert.deepEqual(run.trainer?.lycoris, { algo: 'lokr', factor: 16 });
  });

  it('a LyCORIS config that is not in the workspace stops the submission before upload', async () => {
    const cfg = { '--max_train_steps': 4, '--lora_type': 'lycoris', '--lycoris_config': 'config/missing.json' };
    await assert.rejects(submitJob(h, trainerOptions({ configJson: cfg }), { cwd: h.dir }), /LyCORIS config "config\/missing\.json" was not found/);
    assert.equal(h.server.count('POST', /^\/files$/), 0);
  });

  it('a trainable model\'s package above 100 MiB is refused before consent and before any upload (never a bare 413)', async () => {
    const big = path.join(h.dir, 'big.zip');
    await fs.writeFile(big, '');
    await fs.truncate(big, 100 * 1024 * 1024 + 1); // sparse: nothing is written
    const options = { mode: 'trainable', model: 'ostris/flux-dev-lora-trainer', destination: 'tester/x', createDestination: true };
    await assert.rejects(h.provider.planData({ packagePath: big, options }, { cacheDir: h.dir }), /is 100\.0 MiB|accepts up to 100 MiB/);
    const job = newJob(h.layout, { provider: 'replicate' });
    await assert.rejects(h.provider.submit(job, { packagePath: big, options }, h.ctx), /accepts up to 100 MiB/);
    assert.equal(h.server.count('POST', /^\/files$/), 0);
  });

  it('max_train_steps is required by the trainer: without it in the config or options, nothing is uploaded', async () => {
    await assert.rejects(submitJob(h, trainerOptions({ configJson: { '--num_train_epochs': 3 } })), /requires max_train_steps/);
    assert.equal(h.server.count('POST', /^\/files$/), 0);
    const job = await submitJob(h, trainerOptions({ configJson: { '--num_train_epochs': 3 }, maxTrainSteps: 7 }));
    assert.equal(h.server.runs.get(job.providerJobId!)!.input.max_train_steps, 7);
  });

  it('results to the Hub: hub_model_id and hf_token are sent (the token is redacted in what Replicate shows)', async () => {
    const job = await submitJob(h, trainerOptions({ hubModelId: 'me/lora' }));
    const run = h.server.runs.get(job.providerJobId!)!;
    assert.equal(run.input.hub_model_id, 'me/lora');
    assert.equal(run.input.hf_token, '**********');
    await waitFor(() => (run.ready ? true : undefined));
    assert.equal(run.trainer?.hubModelId, 'me/lora', 'the runner accepted hub_model_id with its token (predict.py L181-183)');
  });
});

describe('replicate never two predictions, without any marker input', function () {
  this.timeout(40_000);
  for (const echo of [true, false]) {
    for (const listOmitsInput of [false, true]) {
      it(`a 500 after Replicate created the prediction: found again, not created twice (echoes unknown inputs: ${echo}; list has input: ${!listOmitsInput})`, async () => {
        const h = await startHarness();
        try {
          h.server.echoUnknownInputs = echo;
          h.server.listOmitsInput = listOmitsInput;
          // Someone else's prediction on the same version just before ours: must not be taken for ours.
          const other = await submitJob(h, trainerOptions({ configJson: { '--max_train_steps': 9 } }));
          h.server.fail({ method: 'POST', path: /^\/predictions$/, status: 500, afterHandling: true });
          const job = await submitJob(h, trainerOptions());
          assert.equal(h.server.count('POST', /^\/predictions$/), 2, 'one create each: the 500 was not retried blindly');
          assert.equal(h.server.runs.size, 2);
          assert.notEqual(job.providerJobId, other.providerJobId);
          const mine = h.server.runs.get(job.providerJobId!)!;
          assert.equal(mine.input.max_train_steps, 4);
          assert.ok(!Object.keys(mine.input).some((k) => k.startsWith('cloudtrain')), 'no undeclared input was needed');
          if (listOmitsInput) assert.ok(h.server.count('GET', /^\/predictions\/[a-z0-9]+$/) >= 1, 'list entries without input were read in full');
        } finally {
          await h.close();
        }
      });
    }
  }

  for (const echo of [true, false]) {
    it(`trainings.create answered by a 500 after it happened: one training (undeclared input echoed: ${echo})`, async () => {
      const h = await startHarness();
      try {
        h.server.echoUnknownInputs = echo;
        h.server.addModel('tester', 'flux-dest', []);
        h.server.fail({ method: 'POST', path: /\/trainings$/, status: 502, afterHandling: true });
        const job = await submitJob(h, { mode: 'trainable', model: 'ostris/flux-dev-lora-trainer', destination: 'tester/flux-dest', input: { steps: 100, not_declared: 'x' } });
        assert.equal(h.server.runs.size, 1);
        const run = [...h.server.runs.values()][0]!;
        assert.equal(job.providerJobId, run.id);
        assert.equal('not_declared' in run.input, echo);
      } finally {
        await h.close();
      }
    });
  }

  it('a dropped create whose prediction never happened is created once more, and only once', async () => {
    const h = await startHarness();
    try {
      h.server.fail({ method: 'POST', path: /^\/predictions$/, drop: true });
      const job = await submitJob(h, trainerOptions());
      assert.equal(h.server.runs.size, 1);
      assert.equal(h.server.count('POST', /^\/predictions$/), 2);
      assert.ok(job.providerJobId);
    } finally {
      await h.close();
    }
  });
});
