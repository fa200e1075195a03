import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SpendingLimitError, SpendingLimitsSchema } from '../../../src/core/cost/limits';
import { JobSchema } from '../../../src/core/jobs/schema';
import { submitJob, type SubmitInput } from '../../../src/core/submit/pipeline';
import { SUBMIT_STEPS, SubmitError, type SubmitStep } from '../../../src/core/submit/steps';
import { defaultPackager } from '../../../src/core/submit/packager';
import { FilePackager, harness, waitForAbort, type Harness } from './fixtures';
import { ConsentMemory } from '../../../src/core/consent/memory';
import type { ConsentSummary } from '../../../src/core/consent/summary';
import { foldersToSync } from '../../../src/providers/ssh/provider';
import type { SubmitRequest } from '../../../src/core/providers/types';

describe('submit pipeline', () => {
  let h: Harness;
  let input: SubmitInput;
  beforeEach(() => {
    h = harness();
    input = { provider: 'replicate', hardware: 'l40s', trainingConfigPath: h.ws.config, workspace: h.ws.workspace };
  });
  afterEach(() => h.dispose());

  it('runs every step in order and records the job with status, provider id, consent and estimate', async () => {
    const seen: SubmitStep[] = [];
    const out = await submitJob(input, h.deps({ onStep: (s, m) => { if (!m) seen.push(s); } }));
    assert.deepEqual(seen, [...SUBMIT_STEPS]);
    const job = (await h.history.get(out.job.id))!;
    assert.equal(job.status, 'queued');
    assert.equal(job.providerJobId, `remote-${job.id}`);
    assert.equal(job.metadata.uploadId, 'u1');
    assert.equal(job.metadata.packageId, 'ab'.repeat(32));
    assert.equal(job.consent?.decision, 'once');
    assert.deepEqual(job.consent?.datasets, [{ id: 'cats', files: 3, bytes: 27 }]);
    assert.equal(job.consent?.excludedCount, 1);
    assert.ok(job.cost?.estimate && job.cost.estimate.expected > 0);
    assert.equal(job.cost?.pricePerHour, 3.5);
    assert.equal(out.estimate.steps, 100, 'steps come from max_train_steps');
    assert.equal(job.configPaths.dataloader, h.ws.dataloader, 'dataloader found through the training config');
    const req = h.cloud.submitted[0]!.request;
    assert.equal(req.packagePath, h.packager.built[0]);
    assert.equal(req.hardware, 'l40s');
  });

  for (const step of SUBMIT_STEPS) {
    it(`cancelled as "${step}" starts: ${step === 'record' ? 'the accepted job is kept' : 'nothing is left behind'}`, async () => {
      const c = new AbortController();
      const run = submitJob(input, h.deps({ onStep: (s, m) => { if (s === step && !m) c.abort(); } }), c.signal);
      if (step === 'record') {
        // The provider already has the job: it must be tracked, not forgotten.
        const out = await run;
        assert.equal((await h.history.list()).length, 1);
        assert.equal(out.job.providerJobId, `remote-${out.job.id}`);
        return;
      }
      await assert.rejects(run, (e: unknown) => {
        assert.ok(e instanceof SubmitError, String(e));
        assert.equal(e.step, step);
        assert.equal(e.cancelled, true);
        assert.match(e.message, /cancelled while .*nothing was left behind/);
        return true;
      });
      assert.deepEqual(await h.history.list(), []);
      assert.deepEqual(h.leftovers(), []);
      assert.equal(h.cloud.submitted.length, 0);
    });
  }

  it('cancelled while the packager works, while consent is asked, and while the provider uploads: nothing left', async () => {
    const cases: { step: SubmitStep; deps: () => Parameters<Harness['deps']>[0] }[] = [
      { step: 'package', deps: () => ({ packager: new FilePackager({ waitForAbort: true }) }) },
      { step: 'consent', deps: () => ({ consent: { policy: 'ask', memory: h.deps().consent.memory, ask: (_s, signal) => waitForAbort(signal) } }) },
      { step: 'confirm', deps: () => ({ confirmCost: (_e, _l, signal) => waitForAbort(signal) }) },
      { step: 'submit', deps: () => { h.cloud.behaviour = { waitForAbort: true }; return {}; } },
    ];
    for (const c of cases) {
      const ctl = new AbortController();
      const over = c.deps();
      const deps = h.deps({ ...over, onStep: (s) => { if (s === c.step) setTimeout(() => ctl.abort(), 20); } });
      await assert.rejects(submitJob(input, deps, ctl.signal), (e: unknown) => e instanceof SubmitError && e.step === c.step && e.cancelled);
      assert.deepEqual(await h.history.list(), [], c.step);
      assert.deepEqual(h.leftovers(), [], c.step);
      h.cloud.behaviour = {};
    }
  });

  it('a failure at a step says which step and why, and cleans up', async () => {
    h.cloud.behaviour = { fail: 'HTTP 422: invalid input' };
    await assert.rejects(submitJob(input, h.deps()), (e: unknown) => {
      assert.ok(e instanceof SubmitError);
      assert.equal(e.step, 'submit');
      assert.equal(e.cancelled, false);
      assert.match(e.message, /failed while uploading and starting the job \(step "submit"\): HTTP 422: invalid input/);
      return true;
    });
    assert.deepEqual(await h.history.list(), []);
    assert.deepEqual(h.leftovers(), []);

    h.packager = new FilePackager({ fail: 'dataset root /etc is refused' });
    await assert.rejects(submitJob(input, h.deps()), /step "package"\): dataset root \/etc is refused/);
    assert.deepEqual(h.leftovers(), []);
    h.packager = new FilePackager();
    h.cloud.behaviour = {};

    await assert.rejects(submitJob({ ...input, trainingConfigPath: path.join(h.root, 'missing.json') }, h.deps()), /step "config"\): ENOENT/);
    await assert.rejects(submitJob({ ...input, provider: 'slurm' }, h.deps()), /step "provider"\): Provider "slurm" is not available/);
    await assert.rejects(submitJob({ ...input, hardware: 'tpu' }, h.deps()), /step "estimate"\): Unknown hardware "tpu"/);
  });

  it('a package that was already cached before this submission is kept when it fails', async () => {
    h.packager = new FilePackager({ reused: true });
    h.cloud.behaviour = { fail: 'boom' };
    await assert.rejects(submitJob(input, h.deps()), SubmitError);
    assert.ok(existsSync(h.packager.built[0]!));
  });

  it('a spending limit blocks before anything is created, with the figures', async () => {
    const limits = SpendingLimitsSchema.parse({ perProvider: { replicate: { daily: 0.01 } } });
    await assert.rejects(submitJob(input, h.deps({ limits })), (e: unknown) => {
      assert.ok(e instanceof SpendingLimitError);
      assert.match(e.message, /replicate daily limit of \$0\.01: spent \$0\.00 today \+ this job's estimate \$\d+\.\d\d/);
      return true;
    });
    assert.deepEqual(await h.history.list(), []);
    assert.deepEqual(h.leftovers(), []);
  });

  it('limits are checked again when the job is created: spend that arrived while the cost view was open counts', async () => {
    const limits = SpendingLimitsSchema.parse({ daily: 5 });
    const t = new Date().toISOString();
    const deps = h.deps({
      limits,
      // While the person looks at the estimate, another window starts a $4.90 job.
      confirmCost: async () => {
        await h.history.add(JobSchema.parse({ id: 'other', name: 'other', provider: 'replicate', status: 'running', createdAt: t, updatedAt: t, cost: { estimate: { low: 4, expected: 4.9, high: 6 } } }));
        return true;
      },
    });
    await assert.rejects(submitJob(input, deps), (e: unknown) => e instanceof SpendingLimitError && /spent \$4\.90 today/.test(e.message));
    assert.deepEqual((await h.history.list()).map((j) => j.id), ['other']);
    assert.deepEqual(h.leftovers(), []);
  });

  it('policy never refuses cloud submission but a local job still runs (consent not-required)', async () => {
    const never = h.deps({ consent: { policy: 'never', memory: h.deps().consent.memory, ask: async () => 'once' } });
    await assert.rejects(submitJob(input, never), (e: unknown) => e instanceof SubmitError && e.step === 'consent' && !e.cancelled && /uploadConsent is "never"/.test(e.message));
    assert.deepEqual(await h.history.list(), []);

    const out = await submitJob({ provider: 'local', trainingConfigPath: h.ws.config, command: 'echo step {config}', cwd: h.ws.workspace }, never);
    assert.equal(out.job.consent?.decision, 'not-required');
    assert.equal(out.job.status, 'running');
    assert.equal(out.job.cost?.estimate?.expected, 0);
    // The real local process ran the command with the placeholder filled in.
    const deadline = Date.now() + 10_000;
    while (!existsSync(path.join(h.layout.jobsDir, out.job.id, 'exit_code')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(readFileSync(out.job.logPath!, 'utf8'), new RegExp(`step ${h.ws.config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('a dataloader given directly (CodeLens) is packaged without a training config', async () => {
    const out = await submitJob({ provider: 'replicate', hardware: 'h100', dataloaderConfigPath: h.ws.dataloader, steps: 50 }, h.deps());
    assert.equal(out.estimate.steps, 50);
    assert.equal(out.job.configPaths.dataloader, h.ws.dataloader);
    assert.equal(h.packager.built.length, 1);
  });

  describe('with the real packager', () => {
    it('packages the workspace datasets into a real zip, records its sha256, and deletes a fresh zip when the provider refuses', async () => {
      const deps = h.deps({ packager: defaultPackager({ workspaceRoot: h.ws.workspace }) });
      const out = await submitJob(input, deps);
      const req = h.cloud.submitted[0]!.request;
      assert.ok(req.packagePath && existsSync(req.packagePath), 'zip exists');
      assert.equal(readFileSync(req.packagePath).subarray(0, 2).toString(), 'PK');
      assert.equal(out.job.metadata.packageId, req.packageId);
      assert.deepEqual(out.job.consent?.datasets.map((d) => [d.id, d.files]), [['cats', 3]]);

      // Same datasets again: the cached package is reused, and kept when the provider fails.
      h.cloud.behaviour = { fail: 'HTTP 500' };
      await assert.rejects(submitJob(input, deps), /step "submit"\): HTTP 500/);
      assert.ok(existsSync(req.packagePath), 'a reused package belongs to the earlier job and stays');
      assert.equal((await h.history.list()).length, 1);

      // A new dataset file → a new package, deleted because the provider never accepted it.
      writeFileSync(path.join(h.ws.workspace, 'datasets', 'cats', '3.txt'), 'a new cat');
      const before = new Set(zipsIn(h.layout.cacheDir));
      await assert.rejects(submitJob(input, deps), /step "submit"\)/);
      assert.deepEqual(zipsIn(h.layout.cacheDir).filter((z) => !before.has(z)), [], 'no new zip left behind');
    });

    it('a folder-syncing provider (SSH/Slurm) gets a scan-only consent summary: no zip is built', async () => {
      // The SSH provider's own folder rules, on a provider that otherwise behaves like the test cloud.
      const sshLike = Object.assign(Object.create(h.cloud) as typeof h.cloud, {
        foldersToSync: (req: SubmitRequest, ws: string | undefined) => foldersToSync(req, { datasets: [] }, ws),
      });
      h.providers.register('ssh', () => sshLike);
      const packager = defaultPackager({ workspaceRoot: h.ws.workspace });
      let built = 0;
      const spy = { ...packager, build: (r: Parameters<typeof packager.build>[0]) => { built++; return packager.build(r); } };
      const asked: ConsentSummary[] = [];
      const out = await submitJob({ ...input, provider: 'ssh' }, h.deps({
        packager: spy,
        consent: { policy: 'ask', memory: new ConsentMemory(h.layout.home), ask: async (s) => { asked.push(s); return 'once'; } },
      }));
      assert.equal(built, 0, 'no package for a provider that syncs folders');
      assert.deepEqual(zipsIn(h.layout.cacheDir), []);
      assert.deepEqual(asked[0]!.datasets.map((d) => [d.id, d.root, d.files]), [['cats', path.join(h.ws.workspace, 'datasets', 'cats'), 3]]);
      assert.deepEqual(asked[0]!.excluded.map((e) => [e.dataset, e.relPath]), [['cats', '.env']], 'the secret beside the images is listed as excluded');
      assert.equal(asked[0]!.uploadBytes, undefined);
      assert.equal(out.job.consent?.excludedCount, 1);
      assert.equal(out.job.metadata.packageId, undefined);
      assert.equal(h.cloud.submitted[0]!.request.packagePath, undefined);
    });

    it('cancelled while really packaging: no zip, no job', async () => {
      for (let i = 0; i < 200; i++) writeFileSync(path.join(h.ws.workspace, 'datasets', 'cats', `big${i}.bin`), Buffer.alloc(64 * 1024, i));
      const c = new AbortController();
      const deps = h.deps({ packager: defaultPackager({ workspaceRoot: h.ws.workspace }), onStep: (s, m) => { if (s === 'package' && m) c.abort(); } });
      await assert.rejects(submitJob(input, deps, c.signal), (e: unknown) => e instanceof SubmitError && e.step === 'package' && e.cancelled);
      assert.deepEqual(zipsIn(h.layout.cacheDir), []);
      assert.deepEqual(await h.history.list(), []);
    });
  });
});

function zipsIn(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.zip(\.|$)/.test(e.name) || e.name.endsWith('.tmp')) out.push(p);
    }
  };
  walk(dir);
  return out;
}
