import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../../src/cli/main';
import { submitCommand } from '../../../src/cli/commands/submit';
import { buildPackage } from '../../../src/core/packaging';
import type { Packager } from '../../../src/core/submit/steps';
import { FakeReplicate } from '../../support/replicate-server/server';
import { capturedIo } from '../../support/captured-io';

const EXAMPLE = path.resolve(__dirname, '../../../examples/simpletuner-demo');

async function waitForRun(run: { ready: boolean }): Promise<void> {
  for (let i = 0; i < 500 && !run.ready; i++) await new Promise((r) => setTimeout(r, 10));
}

describe('cloudtrain with --provider replicate (REPLICATE_BASE_URL → fake Replicate)', function () {
  this.timeout(60_000);
  let server: FakeReplicate;
  let home: string;
  beforeEach(async () => { server = new FakeReplicate(); await server.start(); home = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-replicate-cli-')); });
  afterEach(async () => { await server.close(); await fs.rm(home, { recursive: true, force: true }); });

  async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
    const io = capturedIo({ env: { PATH: process.env.PATH, HOME: home, REPLICATE_BASE_URL: server.base, REPLICATE_API_TOKEN: server.token, ...env }, cwd: EXAMPLE, dataHome: home });
    // The real packager (src/core/packaging) until defaultPackager() is wired to it.
    const packager: Packager = { build: (r) => buildPackage({ ...r, outDir: path.join(r.cacheDir, 'packages'), onProgress: (p) => r.onProgress?.(p.message, p.fraction) }) };
    const code = argv[0] === 'submit' ? await submitCommand(argv.slice(1), io, { packager }) : await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  }

  it('examples/simpletuner-demo: archive route; the trainer finds every image and caption; logs --follow streams to the end', async () => {
    const sub = await cli(['submit', '--provider', 'replicate', '--config', 'config/config.json', '--hardware', 'h100-x2', '--yes']);
    assert.equal(sub.code, 0, sub.err);
    const id = sub.out.trim();
    assert.equal(server.runs.size, 1);
    const run = [...server.runs.values()][0]!;
    assert.equal(run.model, 'simpletuner/advanced-trainer-h100-x2');
    // Consent on the terminal names the route and what changes.
    assert.match(sub.err, /Data route: Archive: Replicate's trainer unpacks 12 images of "pixel-art"/);
    assert.match(sub.err, /repeats: 2 will not apply/);
    assert.match(sub.err, /minimum_image_size: 16 will not apply/);
    assert.equal(run.input.dataloader_json, '', 'no dataloader: the runner unpacks the archive (cog.py L319-332)');
    assert.equal(run.input.max_train_steps, 120, 'max_train_steps from the training config');
    assert.ok(!sub.err.includes(server.token));
    await waitForRun(run);
    assert.equal(run.trainer?.route, 'archive', run.trainerError);
    const dir = path.join(EXAMPLE, 'datasets/pixel-art');
    const meant = (await fs.readdir(dir)).filter((f) => f.endsWith('.txt')).map((f) => require('node:fs').readFileSync(path.join(dir, f), 'utf8').trim()).sort();
    const found = run.trainer!.datasets.flatMap((d) => d.images.map((i) => i.caption)).sort();
    assert.equal(found.length, 12);
    assert.deepEqual(found, meant, 'every image, captioned as the user meant');

    const logs = await cli(['logs', id.slice(0, 10), '--follow']);
    assert.equal(logs.code, 0, logs.err);
    assert.equal(logs.out, run.logs, 'every line exactly once, to the end');
    assert.equal(server.deletedFiles.length, 1, 'uploaded package deleted at the end');
    const jobs = JSON.parse((await cli(['jobs', '--json'])).out) as { status: string; cost: { actual: number } }[];
    assert.equal(jobs[0]!.status, 'succeeded');
    assert.ok(Math.abs(jobs[0]!.cost.actual - 3600 * 0.001525 * 2) < 1e-4);
  });

  it('cancel stops a running job and deletes its upload; a job Replicate no longer knows cancels cleanly too', async () => {
    server.script = { ...server.script, chunkMs: 2000 };
    const first = await cli(['submit', '--provider', 'replicate', '--config', 'config/config.json', '--yes']);
    assert.equal(first.code, 0, first.err);
    const c = await cli(['cancel', first.out.trim()]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /cancelled/);
    assert.equal([...server.runs.values()][0]!.status, 'canceled');
    assert.equal(server.deletedFiles.length, 1);

    const second = await cli(['submit', '--provider', 'replicate', '--config', 'config/config.json', '--yes']);
    assert.equal(second.code, 0, second.err);
    for (const id of server.runs.keys()) server.forget(id); // gone on Replicate's side
    const c2 = await cli(['cancel', second.out.trim()]);
    assert.equal(c2.code, 0, c2.err);
    assert.match(c2.out, /cancelled/);
  });

  it('submit --help documents the Replicate flags; bad values are usage errors (exit 2) naming the flag', async () => {
    const help = await cli(['submit', '--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--max-train-steps N', '--hub-model-id O/N', '--trainer-model O/N', '--trainer-version V', '--data ROUTE', '--model O/N', '--destination O/N', '--input key=value']) assert.ok(help.out.includes(flag), flag);
    const bad: [string[], RegExp][] = [
      [['--max-train-steps', '0'], /--max-train-steps expects a whole number above 0/],
      [['--max-train-steps', '12.5'], /--max-train-steps expects a whole number/],
      [['--data', 'ftp://somewhere'], /--data expects archive, auto, s3:\/\/bucket\/prefix or hf:owner\/dataset/],
      [['--hardware', 'a100'], /--hardware for Replicate's SimpleTuner trainer is one of l40s/],
      [['--hub-model-id', 'not a repo'], /--hub-model-id expects owner\/name/],
      [['--trainer-version', 'latest!'], /--trainer-version expects a version id/],
      [['--model', 'ostris/flux-dev-lora-trainer'], /--model and --destination go together/],
      [['--model', 'a/b', '--destination', 'me/c', '--max-train-steps', '5'], /--max-train-steps is for the SimpleTuner trainer/],
      [['--input', 'steps=5'], /--input is for a trainable model/],
      [['--data-key', 'AKIA1'], /--data-key is for --data s3:\/\/bucket\/prefix/],
      [['--data', 's3://bucket/p', '--data-key', 'AKIA1'], /--data-key needs --data-read-key/],
    ];
    for (const [args, re] of bad) {
      const io = capturedIo({ env: { PATH: process.env.PATH, HOME: home }, cwd: EXAMPLE, dataHome: home });
      assert.equal(await main(['submit', '--provider', 'replicate', '--config', 'config/config.json', '--yes', ...args], io), 2, args.join(' '));
      assert.match(io.err(), re, args.join(' '));
    }
    const local = capturedIo({ env: { PATH: process.env.PATH, HOME: home }, cwd: EXAMPLE, dataHome: home });
    assert.equal(await main(['submit', '--provider', 'local', '--max-train-steps', '5'], local), 2);
    assert.match(local.err(), /--max-train-steps is for --provider replicate/);
    assert.equal(server.runs.size, 0);
  });

  it('--max-train-steps, --hub-model-id and --data archive reach the trainer', async () => {
    const sub = await cli(['submit', '--provider', 'replicate', '--config', 'config/config.json', '--max-train-steps', '30', '--hub-model-id', 'me/pixel-lora', '--data', 'archive', '--yes'], { HF_TOKEN: 'hf_clitoken123456' });
    assert.equal(sub.code, 0, sub.err);
    const run = [...server.runs.values()][0]!;
    assert.equal(run.input.max_train_steps, 30);
    assert.equal(run.input.hub_model_id, 'me/pixel-lora');
    assert.equal(run.input.hf_token, '**********');
    assert.ok(!sub.err.includes('hf_clitoken123456'));
    await waitForRun(run as { ready: boolean });
    assert.equal(run.trainer?.maxTrainSteps, 30);
    assert.equal(run.trainer?.datasets[0]?.images.length, 12);
  });

  it('--model/--destination start trainings.create on a trainable model with the package', async () => {
    const sub = await cli(['submit', '--provider', 'replicate', '--config', 'config/config.json', '--model', 'ostris/flux-dev-lora-trainer', '--destination', 'tester/pixel-flux', '--create-destination', '--input', 'steps=200', '--input', 'trigger_word=PXL', '--yes']);
    assert.equal(sub.code, 0, sub.err);
    const run = [...server.runs.values()][0]!;
    assert.equal(run.kind, 'training');
    assert.equal(run.destination, 'tester/pixel-flux');
    assert.equal(run.input.steps, 200);
    assert.equal(run.input.trigger_word, 'PXL');
    assert.match(String(run.input.input_images), /\/files\//);
    assert.ok(server.models.has('tester/pixel-flux'), 'destination created');
  });

  it('a bad token fails submit with a clear one-line reason', async () => {
    const sub = await cli(['submit', '--provider', 'replicate', '--config', 'config/config.json', '--yes'], { REPLICATE_API_TOKEN: 'r8_wrongwrongwrongwrong' });
    assert.equal(sub.code, 1);
    assert.match(sub.err, /rejected the API token/);
    assert.ok(!sub.err.includes('r8_wrongwrongwrongwrong'));
    assert.equal(server.runs.size, 0);
  });
});
