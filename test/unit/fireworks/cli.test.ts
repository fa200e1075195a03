import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../../src/cli/main';
import { capturedIo } from '../../support/captured-io';
import { FakeFireworks } from '../../support/fireworks-server/server';

/** `cloudtrain submit --provider fireworks …`: cost from the price table, spending limits, follow, resubmit. */
describe('cloudtrain with --provider fireworks (CLI against the Fireworks stand-in)', function () {
  this.timeout(40_000);
  let server: FakeFireworks;
  let dir: string;
  let home: string;

  const MODEL = 'accounts/fireworks/models/llama-v3p1-8b-instruct';
  const chat = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: `question ${i} `.repeat(20) }, { role: 'assistant', content: `answer ${i} `.repeat(20) }] });
  const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: dir, FIREWORKS_API_KEY: server.apiKey, FIREWORKS_ACCOUNT_ID: server.account, FIREWORKS_BASE_URL: server.base });

  async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const io = capturedIo({ env: env(), cwd: dir, dataHome: home });
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  }

  beforeEach(async () => {
    server = new FakeFireworks();
    server.steps = 2;
    await server.start();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-fireworks-cli-'));
    home = path.join(dir, '.ct');
    await fs.mkdir(home, { recursive: true });
    await fs.writeFile(path.join(dir, 'train.jsonl'), Array.from({ length: 200 }, (_, i) => chat(i)).join('\n') + '\n');
  });
  afterEach(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('prices the job from the table (tokens × epochs × $0.50/1M) and refuses it with exit 3 when a spending limit would pass; nothing sent', async () => {
    await fs.writeFile(path.join(home, 'settings.json'), JSON.stringify({ 'cloudTraining.limits.daily': 0.0001 }));
    const r = await cli(['submit', '--provider', 'fireworks', '--model', MODEL, '--dataset', 'train.jsonl', '--epochs', '3', '--yes']);
    assert.equal(r.code, 3, r.err);
    const m = /Cost: about \$([\d.]+) \(([\d,]+) billed tokens at \$0\.5\/1M, up to 16B, sft-lora/.exec(r.err);
    assert.ok(m, r.err);
    const [, , billed] = m;
    assert.equal(Number(billed!.replace(/,/g, '')) % 3, 0, 'billed tokens are training tokens × 3 epochs');
    assert.match(r.err, /Blocked by the overall daily limit of \$0\.00/);
    assert.equal(server.requests.length, 0);
    assert.deepEqual(JSON.parse((await cli(['jobs', '--json'])).out), []);
    // `estimate` says the same before anything is tried (and exits 0: submit is what refuses).
    const est = await cli(['estimate', '--dataset', 'train.jsonl', '--provider', 'fireworks', '--model', MODEL, '--epochs', '3']);
    assert.equal(est.code, 0, est.err);
    assert.match(est.out, /Would be refused:\nBlocked by the overall daily limit/);
  });

  it('submit --follow runs to succeeded with the synthesised log; resubmit continues from the LoRA (warmStartFrom)', async () => {
    const sub = await cli(['submit', '--provider', 'fireworks', '--model', MODEL, '--dataset', 'train.jsonl', '--lora-rank', '8', '--yes', '--follow']);
    assert.equal(sub.code, 0, sub.err);
    assert.match(sub.out, /state JOB_STATE_RUNNING: training\n/);
    assert.match(sub.out, /progress 100%\n.*state JOB_STATE_COMPLETED: output model accounts\/acme-ml\/models\/ct-/s);
    assert.equal(server.datasets.size, 0);
    const [job] = JSON.parse((await cli(['jobs', '--json'])).out) as { id: string; status: string; metadata: { outputModel: string; costEstimated?: boolean }; cost: { actual?: number; estimate?: { expected: number } } }[];
    assert.equal(job!.status, 'succeeded');
    // Fireworks reports no cost: the table estimate stands in, so the job still counts against spending limits.
    assert.ok(job!.cost.estimate!.expected > 0);
    assert.equal(job!.cost.actual, job!.cost.estimate!.expected);
    assert.equal(job!.metadata.costEstimated, true);
    const again = await cli(['resubmit', job!.id, '--yes', '--json']);
    assert.equal(again.code, 0, again.err);
    const { job: next } = JSON.parse(again.out) as { job: { providerJobId: string } };
    const remote = server.jobs.get(next.providerJobId)!;
    assert.equal(remote.warmStartFrom, job!.metadata.outputModel);
    assert.equal(remote.baseModel, undefined);
  });

  it('without FIREWORKS_ACCOUNT_ID: one message, nothing created', async () => {
    const io = capturedIo({ env: { ...env(), FIREWORKS_ACCOUNT_ID: '' }, cwd: dir, dataHome: home });
    const code = await main(['submit', '--provider', 'fireworks', '--model', MODEL, '--dataset', 'train.jsonl', '--yes'], io);
    assert.equal(code, 1);
    assert.match(io.err(), /No Fireworks account id/);
    assert.equal(server.requests.length, 0);
  });
});
