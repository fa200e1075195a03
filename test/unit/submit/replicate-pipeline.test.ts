import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConsentMemory } from '../../../src/core/consent/memory';
import type { ConsentSummary } from '../../../src/core/consent/summary';
import { defaultPackager } from '../../../src/core/submit/packager';
import { submitJob, type SubmitInput } from '../../../src/core/submit/pipeline';
import { SubmitError } from '../../../src/core/submit/steps';
import { replicateProviderFromEnv } from '../../../src/providers/replicate/cli-options';
import { FakeReplicate } from '../../support/replicate-server/server';
import { harness, type Harness } from './fixtures';

/** The pipeline with the real packager and the real Replicate provider against the local fake Replicate API. */
describe('submit pipeline → Replicate (fake API on 127.0.0.1)', function () {
  this.timeout(30_000);
  let h: Harness;
  let server: FakeReplicate;
  let input: SubmitInput;
  beforeEach(async () => {
    h = harness();
    server = new FakeReplicate();
    await server.start();
    h.providers.register('replicate', () => replicateProviderFromEnv({ REPLICATE_BASE_URL: server.base, REPLICATE_API_TOKEN: server.token }));
    input = { provider: 'replicate', hardware: 'l40s', trainingConfigPath: h.ws.config, workspace: h.ws.workspace };
    // The shared workspace holds captions only; give every caption its image (the trainer reads images).
    for (let i = 0; i < 3; i++) writeFileSync(path.join(h.ws.workspace, 'datasets', 'cats', `${i}.png`), randomBytes(2048));
  });
  afterEach(async () => {
    await h.dispose();
    await server.close();
  });
  let asked: ConsentSummary[] = [];
  const deps = () => {
    asked = [];
    return h.deps({
      packager: defaultPackager({ workspaceRoot: h.ws.workspace }),
      consent: { policy: 'ask', memory: new ConsentMemory(h.layout.home), ask: async (s) => { asked.push(s); return 'once'; } },
    });
  };
  const zips = () => {
    const dir = path.join(h.layout.cacheDir, 'packages');
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.zip')) : [];
  };

  it('creates the job, uploads the package and records the prediction id', async () => {
    const out = await submitJob(input, deps());
    assert.equal(server.runs.size, 1);
    const run = [...server.runs.values()][0]!;
    assert.equal(out.job.providerJobId, run.id);
    assert.ok(['queued', 'starting'].includes(out.job.status), out.job.status);
    assert.equal(out.job.consent?.decision, 'once');
    assert.equal(out.job.cost?.pricePerHour, 3.5);
    assert.equal(server.files.size, 1);
    assert.equal(out.job.metadata.dataRoute, 'archive');
    // Consent named the route before anything was uploaded.
    const consented = asked[0]!;
    assert.equal(consented.dataRoute?.route, 'archive');
    assert.match(consented.dataRoute!.title, /unpacks 3 images of "cats" \(renamed to their \.txt captions\)/);
    assert.deepEqual(consented.dataRoute!.changes.slice(0, 2), ['captions: each image is renamed to its caption (the .txt files are not sent)', 'crop: off → centre crop (the trainer always centre-crops)']);
    assert.equal(consented.uploadBytes, server.files.values().next().value!.size, 'consent shows the exact upload size');
    assert.deepEqual(consented.datasets.map((d) => [d.id, d.files]), [['cats', 3]], 'consent counts what leaves: the 3 images, not their caption files');
    assert.equal(consented.totalFiles, 3);
    for (let i = 0; i < 200 && !run.ready; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(run.trainer?.datasets[0]?.images.map((x) => x.caption).sort(), ['a cat 0', 'a cat 1', 'a cat 2'], run.trainerError);
  });

  it('a dataset the trainer could not read is refused before anything is uploaded, with the reason and both ways out', async () => {
    for (let i = 0; i < 3; i++) writeFileSync(path.join(h.ws.workspace, 'datasets', 'cats', `${i}.txt`), `a cat\nsecond caption ${i}`);
    await assert.rejects(submitJob(input, deps()), (e: unknown) => {
      assert.ok(e instanceof SubmitError, String(e));
      assert.equal(e.step, 'package');
      assert.match(e.message, /2 captions \(one per line\); a file name holds exactly one/);
      assert.match(e.message, /--data s3:\/\/bucket\/prefix/);
      assert.match(e.message, /make the dataloader fit the archive route/);
      return true;
    });
    assert.equal(asked.length, 0, 'refused before consent');
    assert.equal(server.count('POST', /^\/files$/), 0, 'nothing uploaded');
    assert.equal(server.runs.size, 0);
    assert.deepEqual(await h.history.list(), []);
  });

  it('captions with "_" cannot become file names (the trainer would read a space): refused, not silently changed', async () => {
    writeFileSync(path.join(h.ws.workspace, 'datasets', 'cats', '1.txt'), 'a_cat');
    await assert.rejects(submitJob(input, deps()), /contains "_", which the trainer reads back as a space/);
    assert.equal(server.count('POST', /^\/files$/), 0);
  });

  it('images without any caption file: refused (SimpleTuner would stop on the missing .txt)', async () => {
    rmSync(path.join(h.ws.workspace, 'datasets', 'cats', '2.txt'));
    await assert.rejects(submitJob(input, deps()), /2\.png has no caption file \(2\.txt\)/);
    assert.equal(server.count('POST', /^\/files$/), 0);
  });

  it('the provider refusing the prediction leaves no job and no fresh package; the error names the step', async () => {
    server.fail({ method: 'POST', path: /^\/predictions$/, status: 422 });
    await assert.rejects(submitJob(input, deps()), (e: unknown) => {
      assert.ok(e instanceof SubmitError, String(e));
      assert.equal(e.step, 'submit');
      assert.equal(e.cancelled, false);
      return true;
    });
    assert.equal(server.runs.size, 0);
    assert.deepEqual(await h.history.list(), []);
    assert.deepEqual(zips(), []);
    assert.deepEqual(h.leftovers().filter((f) => !f.startsWith('cache/')), [], 'no log file or job folder');
  });

  it('cancelled while uploading: nothing started at Replicate, nothing left here', async () => {
    const c = new AbortController();
    server.fail({ method: 'POST', path: /^\/files$/, delayMs: 2000 });
    const run = submitJob(input, h.deps({ packager: defaultPackager({ workspaceRoot: h.ws.workspace }), onStep: (s) => { if (s === 'submit') setTimeout(() => c.abort(), 200); } }), c.signal);
    await assert.rejects(run, (e: unknown) => e instanceof SubmitError && e.step === 'submit' && e.cancelled);
    assert.equal(server.runs.size, 0);
    assert.deepEqual(await h.history.list(), []);
    assert.deepEqual(zips(), []);
  });
});
