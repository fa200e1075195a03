import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
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
  });
  afterEach(async () => {
    await h.dispose();
    await server.close();
  });
  const deps = () => h.deps({ packager: defaultPackager({ workspaceRoot: h.ws.workspace }) });
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
