import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TrainerImage } from '../../support/replicate-server/cog-trainer';
import { FakeHub } from '../../support/hf-hub';
import { Harness, startHarness, submitJob, trackToEnd, trainerOptions, writeZip } from './harness';

/** Two datasets, multi-line and underscore captions, repeats: what the archive route cannot carry. */
async function richPackage(file: string): Promise<void> {
  const dataloader = [
    { id: 'portraits', type: 'local', instance_data_dir: 'datasets/portraits', caption_strategy: 'textfile', repeats: 3 },
    { id: 'styles', type: 'local', instance_data_dir: 'datasets/styles', caption_strategy: 'filename' },
    { id: 'text-embeds', type: 'local', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/text' },
  ];
  await writeZip(file, {
    'multidatabackend.json': JSON.stringify(dataloader), 'config/config.json': JSON.stringify({ '--max_train_steps': 10 }),
    'datasets/portraits/p1.png': randomBytes(3000), 'datasets/portraits/p1.txt': 'a portrait of tok\na photo of tok, smiling',
    'datasets/portraits/sub/p2.png': randomBytes(3000), 'datasets/portraits/sub/p2.txt': 'tok_in_a_hat',
    'datasets/styles/water_colour.jpg': randomBytes(3000),
  });
}

describe('replicate remote-data route over a HuggingFace dataset repo', function () {
  this.timeout(40_000);
  let h: Harness;
  let hub: FakeHub;
  beforeEach(async () => {
    hub = new FakeHub();
    await hub.start();
    h = await startHarness({ getHfToken: async () => hub.token, hfEndpoint: () => hub.url });
    await richPackage(h.packagePath);
    // SimpleTuner's huggingface backend, as far as the stand-in needs it: load_dataset(name, split, revision) with the job's token.
    h.server.readRemote = async (entry, input): Promise<TrainerImage[]> => {
      if (entry.type !== 'huggingface') throw new Error(`unexpected type ${String(entry.type)}`);
      if (input.hf_token !== hub.token) throw new Error('401: private dataset repo, no valid token');
      const files = hub.files(String(entry.dataset_name), String(entry.revision));
      const meta = files?.get(`${String(entry.split)}/metadata.jsonl`);
      if (!files || !meta) throw new Error(`split ${String(entry.split)} not found at ${String(entry.revision)}`);
      return meta.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { file_name: string; caption: string | string[] }).map((r) => {
        if (!files.has(`${String(entry.split)}/${r.file_name}`)) throw new Error(`${r.file_name} missing`);
        return { path: r.file_name, caption: r.caption };
      });
    };
  });
  afterEach(async () => { await h.close(); await hub.close(); });
  const opts = () => trainerOptions({ configJson: undefined, dataloaderJson: undefined, data: { kind: 'hf', repo: 'tester/pixel-data' } });

  it('goes green: one split per dataset in a private repo, captions kept exactly, pinned to the commit, read with the job\'s hf_token', async () => {
    const plan = await h.provider.planData({ packagePath: h.packagePath, options: opts() }, { cacheDir: h.dir });
    assert.equal(plan?.summary.route, 'remote-hf');
    assert.match(plan!.summary.credentials!, /hf_token input \(a Secret: Replicate never shows it back\).*fine-grained token/);
    assert.equal(hub.repos.size, 0, 'planning uploads nothing');
    const job = await submitJob(h, opts(), { dataPlan: plan });
    assert.equal(h.server.files.size, 0, 'nothing uploaded to Replicate itself');
    assert.equal(hub.repos.get('tester/pixel-data')?.private, true);
    const run = h.server.runs.get(job.providerJobId!)!;
    assert.equal(run.input.hf_token, '**********', 'the token travels only as the Secret input');
    const sent = JSON.parse(String(run.input.dataloader_json)) as Record<string, unknown>[];
    assert.ok(!String(run.input.dataloader_json).includes(hub.token));
    assert.deepEqual(sent.map((d) => [d.type, d.split]), [['huggingface', 'd0_portraits'], ['huggingface', 'd1_styles'], ['local', undefined]]);
    assert.equal(sent[0]!.repeats, 3);
    assert.match(String(sent[0]!.revision), /^[0-9a-f]{40}$/, 'pinned to the commit made for this job');
    const done = await trackToEnd(h, job.id);
    assert.equal(done.status, 'succeeded', run.trainerError);
    assert.deepEqual(run.trainer!.datasets.map((d) => [d.id, d.images.map((i) => i.caption)]), [
      ['portraits', [['a portrait of tok', 'a photo of tok, smiling'], 'tok_in_a_hat']],
      ['styles', ['water colour']],
    ]);
    assert.ok(!JSON.stringify(await h.history.list()).includes(hub.token), 'no token in the job history');

    // The same images again: the Hub has them (same sha256), so they are not sent again.
    const uploads = hub.lfsUploads;
    const again = await submitJob(h, opts());
    assert.equal(hub.lfsUploads, uploads);
    await trackToEnd(h, again.id);
  });

  it('without a HuggingFace token: refused before anything is uploaded', async () => {
    const h2 = await startHarness({ getHfToken: async () => undefined, hfEndpoint: () => hub.url });
    try {
      await richPackage(h2.packagePath);
      await assert.rejects(submitJob(h2, opts()), /needs a HuggingFace token/);
      assert.equal(hub.repos.size, 0);
      assert.equal(h2.server.runs.size, 0);
    } finally {
      await h2.close();
    }
  });
});
