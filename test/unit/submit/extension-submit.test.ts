import assert from 'node:assert/strict';
import path from 'node:path';
import type { ExtensionServices } from '../../../src/vscode/services';
import type { ConsentViewData, CostViewData, JobViewData } from '../../../webview/shared/protocol';
import { promises as fs } from 'node:fs';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { LocalProvider } from '../../../src/providers/local/provider';
import { startTestServer } from '../server/helpers';
import { harness, type Harness } from './fixtures';
import { installVscodeShim, shim, Uri, window, type Page } from './vscode-shim';

installVscodeShim();
// Loaded after the shim so `import * as vscode from 'vscode'` resolves to it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { registerSubmit } = require('../../../src/vscode/submit/register') as typeof import('../../../src/vscode/submit/register');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { secretLookup } = require('../../../src/vscode/server/register') as typeof import('../../../src/vscode/server/register');

const root = path.resolve(__dirname, '../../..');
const until = async (cond: () => boolean, what: string, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/**
 * The editor side of Submit… with VS Code replaced by a small shim (see vscode-shim.ts): the real
 * command code, the real panel hosts and message channels, the real page-side protocol client, the
 * real pipeline, history and a provider that uploads.
 */
describe('extension: Submit…, consent and cost webviews, job details', function () {
  this.timeout(20_000);
  let h: Harness;
  let services: ExtensionServices;
  let logs: string[];
  beforeEach(() => {
    shim.reset();
    h = harness();
    logs = [];
    const log = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error'].map((l) => [l, (m: string) => logs.push(`${l}: ${m}`)]));
    services = {
      context: { subscriptions: [], extensionUri: Uri.file(root) } as unknown as ExtensionServices['context'],
      history: h.history, layout: h.layout, providers: h.providers,
      log: log as unknown as ExtensionServices['log'],
    };
    shim.pick = (items) => items.find((i) => i.description === 'replicate') ?? items.find((i) => i.label.includes('L40S') || i.label === 'L40S') ?? items[0];
    registerSubmit(services);
  });
  afterEach(async () => {
    for (const d of (services.context.subscriptions as { dispose(): unknown }[])) d.dispose();
    shim.reset();
    await h.dispose();
  });

  const consentPages = () => shim.pages.filter((p) => p.view === 'consent');
  const costPages = () => shim.pages.filter((p) => p.view === 'cost');

  it('shows consent, then cost, then submits, opens the log channel, and records the decision', async () => {
    const seen: string[] = [];
    shim.autopilot = (page: Page, data) => {
      seen.push(page.view);
      if (page.view === 'consent') void page.client.request('consent.answer', { answer: 'once' });
      if (page.view === 'cost') void page.client.request('cost.confirm', { proceed: true });
      void data;
    };
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.deepEqual(seen, ['consent', 'cost']);
    const consent = consentPages()[0]!.data[0] as ConsentViewData;
    assert.equal(consent.summary.providerName, 'Test cloud');
    assert.deepEqual(consent.summary.datasets.map((d) => [d.id, d.files]), [['cats', 3]]);
    assert.equal(consent.summary.excluded[0]?.relPath, '.env');
    const cost = costPages()[0]!.data[0] as CostViewData;
    assert.equal(cost.mode, 'confirm');
    assert.equal(cost.estimate.steps, 100);
    assert.equal(cost.limits.ok, true);

    const [job] = await h.history.list();
    assert.ok(job, 'job created');
    assert.equal(job.consent?.decision, 'once');
    assert.equal(job.status, 'queued');
    assert.ok(shim.executed.some((e) => e.id === 'cloudTraining.showLogs' && e.args[0] === job.id), 'log channel opened');
    assert.match(shim.messages.at(-1)!.text, /Submitted ".*" to Test cloud/);
    // The pages close themselves once the answer arrived.
    await until(() => shim.panels.every((p) => p.disposed), 'panels to close');
    // The webview HTML carries the strict CSP and loads only our bundle.
    assert.match(shim.panels[0]!.webview.html, /default-src 'none'; script-src 'nonce-/);
  });

  it('closing the consent panel cancels: no job, no package, a calm message', async () => {
    shim.autopilot = (page) => { if (page.view === 'consent') setTimeout(() => page.panel.dispose(), 20); };
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.deepEqual(await h.history.list(), []);
    assert.deepEqual(h.leftovers(), []);
    assert.equal(costPages().length, 0, 'no cost view after a refusal');
    assert.match(shim.messages.at(-1)!.text, /cancelled while asking for upload consent/);
  });

  it('cancelling the progress notification while the cost view is open closes it and leaves nothing', async () => {
    shim.autopilot = (page) => {
      if (page.view === 'consent') void page.client.request('consent.answer', { answer: 'always' });
      if (page.view === 'cost') setTimeout(() => (shim as unknown as { cancelProgress(): void }).cancelProgress(), 20);
    };
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.deepEqual(await h.history.list(), []);
    assert.deepEqual(h.leftovers(), []);
    assert.ok(costPages()[0]!.panel.disposed, 'cost panel closed by the cancellation');
    assert.match(shim.messages.at(-1)!.text, /cancelled while confirming the cost/);
  });

  it('a spending limit blocks with a modal error carrying the figures; the cost view says so too', async () => {
    shim.config['cloudTraining.limits.daily'] = 0.01;
    shim.config['cloudTraining.uploadConsent'] = 'allow';
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.deepEqual(await h.history.list(), []);
    const err = shim.messages.find((m) => m.level === 'error')!;
    assert.match(err.text, /would pass a spending limit/);
    assert.match(err.detail!, /overall daily limit of \$0\.01: spent \$0\.00 today \+ this job's estimate \$\d+\.\d\d/);
    assert.equal(consentPages().length, 0, 'policy allow: no consent view');
  });

  it('policy never refuses with a message pointing at the setting', async () => {
    shim.config['cloudTraining.uploadConsent'] = 'never';
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.deepEqual(await h.history.list(), []);
    assert.match(shim.messages.find((m) => m.level === 'error')!.text, /uploadConsent is "never"/);
  });

  it('job details: live updates, actions through the protocol, restore after reload', async () => {
    shim.pick = (items) => items.find((i) => i.description === 'local') ?? items[0];
    shim.config['cloudTraining.local.command'] = 'sleep 30';
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    const [job] = await h.history.list();
    assert.ok(job && job.provider === 'local', 'local job submitted without consent or cost views');
    assert.equal(shim.pages.length, 0);

    await shim.commands.get('cloudTraining.openJobDetails')!(job.id);
    const page = () => shim.pages.find((p) => p.view === 'job' && !p.panel.disposed)!;
    await until(() => page()?.data.length === 1, 'job init');
    assert.equal((page().data[0] as JobViewData).job.id, job.id);
    assert.equal((page().data[0] as JobViewData).canCancel, true);

    // The monitor would write progress; the open panel follows within about a second.
    await h.history.update(job.id, (j) => ({ ...j, progress: { step: 5, totalSteps: 10, loss: 0.5 }, metrics: [{ step: 5, loss: 0.5 }] }));
    await until(() => page().data.some((d) => (d as JobViewData).job.progress.step === 5), 'live update', 4000);

    await page().client.request('job.showLogs', { jobId: job.id });
    assert.ok(shim.executed.some((e) => e.id === 'cloudTraining.showLogs' && e.args[0] === job.id));
    await assert.rejects(page().client.request('job.openOutput', { jobId: job.id, uri: '/etc/passwd' }), /does not belong to this job/);

    // After a window reload VS Code hands the saved state to our serializer.
    const serializer = shim.serializers.get('cloudTraining.jobDetails')!;
    const restored = window.createWebviewPanel('cloudTraining.jobDetails', 'restored');
    await serializer.deserializeWebviewPanel(restored, { jobId: job.id });
    await until(() => restored.webview.page?.data.length === 1, 'restored init');
    const gone = window.createWebviewPanel('cloudTraining.jobDetails', 'gone');
    await serializer.deserializeWebviewPanel(gone, { jobId: 'no-such-job' });
    assert.equal(gone.disposed, true, 'a panel for a deleted job is not restored');
    await h.providers.get('local').cancel((await h.history.get(job.id))!, { dataHome: h.layout.home });
  });

  it('local job: "where should the weights go?" defaults to leaving them here; an S3 bucket is kept on the job (no secret) and delivered to', async () => {
    // "Leave them here" is the first (default) choice for a job on this machine.
    let offered: string[] = [];
    shim.pick = (items, placeHolder) => {
      if (placeHolder === 'Where should the trained weights go?') { offered = items.map((i) => i.label); return items[0]; }
      return items.find((i) => i.description === 'local') ?? items[0];
    };
    shim.config['cloudTraining.local.command'] = 'echo weights > {output_dir}/model.safetensors';
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.deepEqual(offered, ['$(folder) Leave them here', '$(package) HuggingFace Hub…', '$(database) An S3 bucket…']);
    const [kept] = await h.history.list();
    assert.equal(kept?.metadata.resultsDestination, undefined);

    // An S3 bucket: the secret key is in SecretStorage ("Set S3 Secret Key"), the destination on the job.
    const s3 = await startTestServer();
    try {
      await fs.mkdir(path.join(s3.storageDir, 'team-models'));
      const secretStore = new Map([[`cloudTraining.s3:${s3.admin.accessKeyId}`, s3.admin.secretAccessKey]]);
      (services.context as { secrets: unknown }).secrets = { get: async (k: string) => secretStore.get(k) };
      // The extension builds the local provider with the SecretStorage lookup (extension.ts).
      h.providers.register('local', () => new LocalProvider({ jobsDir: h.layout.jobsDir, secrets: secretLookup(services), env: {} }));
      shim.pick = (items, placeHolder) => (placeHolder === 'Where should the trained weights go?'
        ? items.find((i) => i.label.includes('S3 bucket'))
        : items.find((i) => i.description === 'local') ?? items[0]);
      const answers = [s3.server.storageEndpoint, 'team-models', 'loras/', s3.admin.accessKeyId];
      shim.inputBox = () => answers.shift();
      await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
      const job = (await h.history.list()).find((j) => j.id !== kept!.id)!;
      const expected = { kind: 's3', endpoint: s3.server.storageEndpoint, bucket: 'team-models', prefix: 'loras/', accessKeyId: s3.admin.accessKeyId, region: 'us-east-1', forcePathStyle: true };
      assert.deepEqual(job.metadata.resultsDestination, expected);
      assert.deepEqual((job.submission?.options as { results: unknown }).results, expected, 'resubmit repeats it');

      const monitor = new JobMonitor(h.history, h.providers, { dataHome: h.layout.home });
      let done = job;
      for (let i = 0; i < 200 && done.metadata.finalized !== true; i++) {
        done = (await monitor.refresh(done)) ?? done;
        await new Promise((r) => setTimeout(r, 50));
      }
      monitor.dispose();
      assert.equal(done.status, 'succeeded');
      assert.equal(done.metadata.deliveryError, undefined, String(done.metadata.deliveryError));
      const listed = await s3.client().send(new ListObjectsV2Command({ Bucket: 'team-models', Prefix: `loras/${job.id}/` }));
      assert.deepEqual((listed.Contents ?? []).map((o) => o.Key), [`loras/${job.id}/model.safetensors`]);
      assert.ok(!JSON.stringify(await h.history.list()).includes(s3.admin.secretAccessKey), 'no secret in the job history');
    } finally {
      await s3.dispose();
    }
  });

  it('SSH submission: the settings useSystemSsh=false and remoteDirectory reach the provider (default: not set)', async () => {
    h.providers.register('ssh', () => h.cloud);
    shim.pick = (items, placeHolder) => (placeHolder === 'Where should the trained weights go?' ? items[0] : items.find((i) => i.description === 'ssh') ?? items[0]);
    shim.autopilot = (page: Page) => {
      if (page.view === 'consent') void page.client.request('consent.answer', { answer: 'once' });
      if (page.view === 'cost') void page.client.request('cost.confirm', { proceed: true });
    };
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.equal((h.cloud.submitted.at(-1)!.request.options ?? {}).systemSsh, undefined);
    shim.config['cloudTraining.ssh.useSystemSsh'] = false;
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.equal(h.cloud.submitted.length, 2);
    assert.equal(h.cloud.submitted[1]!.request.options?.systemSsh, false);
    assert.equal(h.cloud.submitted[1]!.request.options?.remoteBaseDir, undefined, 'the provider default unless set');
    shim.config['cloudTraining.ssh.remoteDirectory'] = '/data/cloud-training';
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.equal(h.cloud.submitted[2]!.request.options?.remoteBaseDir, '/data/cloud-training');
  });

  it('Replicate in the editor: the SimpleTuner trainer with a chosen data route, or a trainable model (trainings.create)', async () => {
    shim.autopilot = (page: Page) => {
      if (page.view === 'consent') void page.client.request('consent.answer', { answer: 'once' });
      if (page.view === 'cost') void page.client.request('cost.confirm', { proceed: true });
    };
    shim.pick = (items, placeHolder) => placeHolder === 'What should train on Replicate?' ? items.find((i) => i.label === 'A trainable model')
      : items.find((i) => i.description === 'replicate') ?? items[0];
    const answers = ['ostris/flux-dev-lora-trainer', 'me/my-flux'];
    shim.inputBox = () => answers.shift();
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.deepEqual(h.cloud.submitted.at(-1)!.request.options, { mode: 'trainable', model: 'ostris/flux-dev-lora-trainer', destination: 'me/my-flux' });

    shim.pick = (items, placeHolder) => placeHolder === 'What should train on Replicate?' ? items[0]
      : placeHolder === 'How should the trainer get your datasets?' ? items.find((i) => i.label === 'S3 bucket')
        : placeHolder === 'Where should the trained weights go?' ? items[0] : items.find((i) => i.description === 'replicate') ?? items[0];
    const s3answers = ['s3://datasets/team', 'https://tunnel.example.test/api/cloud/storage'];
    shim.inputBox = () => s3answers.shift();
    await shim.commands.get('cloudTraining.submit')!(Uri.file(h.ws.config));
    assert.deepEqual(h.cloud.submitted.at(-1)!.request.options?.data, { kind: 's3', bucket: 'datasets', prefix: 'team', endpoint: 'https://tunnel.example.test/api/cloud/storage' });
  });

  it('estimate cost opens the cost view in info mode', async () => {
    await shim.commands.get('cloudTraining.estimateCost')!(Uri.file(h.ws.config));
    await until(() => costPages()[0]?.data.length === 1, 'cost init');
    const data = costPages()[0]!.data[0] as CostViewData;
    assert.equal(data.mode, 'info');
    assert.equal(data.estimate.provider, 'replicate');
    await assert.rejects(costPages()[0]!.client.request('cost.confirm', { proceed: true }), /not available in this view/);
  });
});
