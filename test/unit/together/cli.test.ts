import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../../src/cli/main';
import { submitCommand } from '../../../src/cli/commands/submit';
import { capturedIo } from '../../support/captured-io';
import { CLI_JS, killLiveClis, runCli } from '../../support/cli-process';
import { FakeTogether } from '../../support/together-server/server';

/** `cloudtrain submit --provider together …` and the commands after it, in-process, against the stand-in. */
describe('cloudtrain with --provider together (CLI against the Together stand-in)', function () {
  this.timeout(40_000);
  let server: FakeTogether;
  let dir: string;
  let home: string;

  const MODEL = 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference';
  const chat = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: `question ${i}` }, { role: 'assistant', content: `answer ${i}` }] });
  const env = (over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: dir, TOGETHER_API_KEY: server.apiKey, TOGETHER_BASE_URL: server.base, ...over });

  async function cli(argv: string[], e: NodeJS.ProcessEnv = env()): Promise<{ code: number; out: string; err: string }> {
    const io = capturedIo({ env: e, cwd: dir, dataHome: home });
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  }

  beforeEach(async () => {
    server = new FakeTogether();
    server.steps = 1;
    await server.start();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-together-cli-'));
    home = path.join(dir, '.ct');
    await fs.mkdir(path.join(dir, 'data'), { recursive: true });
    await fs.writeFile(path.join(dir, 'data', 'train.jsonl'), Array.from({ length: 40 }, (_, i) => chat(i)).join('\n') + '\n');
  });
  afterEach(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('submit --yes --follow: uploads, runs to succeeded, prints the events once; jobs lists it; the upload is gone', async () => {
    const sub = await cli(['submit', '--provider', 'together', '--model', MODEL, '--dataset', 'data/train.jsonl', '--epochs', '2', '--lora-rank', '16', '--learning-rate', '0.0001', '--yes', '--follow']);
    assert.equal(sub.code, 0, sub.err);
    assert.match(sub.err, /Files to upload to Together AI/);
    assert.match(sub.err, /training: .*train\.jsonl — .*40 lines, 40 examples \(chat\)/);
    assert.match(sub.err, /Cost: unknown/, 'Together\'s rates are not in the table: said so, never $0');
    assert.match(sub.out, /job_complete: Fine-tuning job completed/);
    assert.equal(sub.out.split('\n').filter((l) => /checkpoint_save/.test(l)).length, 1, 'each event printed once');
    const remote = [...server.jobs.values()][0]!;
    assert.equal(remote.n_epochs, 2);
    assert.equal(remote.learning_rate, 0.0001);
    assert.equal(server.files.size, 0, 'uploaded file deleted at the end');
    const jobs = JSON.parse((await cli(['jobs', '--json'])).out) as { status: string; provider: string; outputs: { kind: string; uri: string }[]; cost?: { actual?: number } }[];
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0]!.provider, 'together');
    assert.equal(jobs[0]!.status, 'succeeded');
    assert.equal(jobs[0]!.outputs.find((o) => o.kind === 'model')?.uri, remote.model_output_name);
    assert.equal(jobs[0]!.cost?.actual, remote.total_price);
    const adapter = jobs[0]!.outputs.find((o) => o.kind === 'file');
    assert.ok(adapter && existsSync(adapter.uri) && adapter.uri.startsWith(path.join(dir, 'outputs')));
  });

  it('with a spending limit: Together\'s own estimate is checked after the upload — over the limit exit 3, upload deleted, no job; under it the job carries the estimate', async () => {
    await fs.mkdir(home, { recursive: true });
    await fs.writeFile(path.join(home, 'settings.json'), JSON.stringify({ 'cloudTraining.limits.daily': 1 }));
    // 40 lines × 100 tokens × 2 epochs at $10,000 per 1M tokens: $80, over the $1 left today.
    server.pricePerMillion = 10_000;
    const over = await cli(['submit', '--provider', 'together', '--model', MODEL, '--dataset', 'data/train.jsonl', '--epochs', '2', '--yes']);
    assert.equal(over.code, 3, over.err);
    assert.match(over.err, /own estimate is asked after the upload and must fit your spending limits/);
    assert.match(over.err, /Together estimates \$80\.00 for this job/);
    assert.match(over.err, /Blocked by the overall daily limit of \$1\.00/);
    assert.equal(server.files.size, 0, 'the uploaded file was deleted');
    assert.equal(server.jobs.size, 0);
    assert.deepEqual(JSON.parse((await cli(['jobs', '--json'])).out), []);

    // Together still validating the file: asked again until it has a price.
    server.pricePerMillion = 0.48;
    server.estimatePendingPolls = 2;
    const ok = await cli(['submit', '--provider', 'together', '--model', MODEL, '--dataset', 'data/train.jsonl', '--epochs', '2', '--yes']);
    assert.equal(ok.code, 0, ok.err);
    const [job] = JSON.parse((await cli(['jobs', '--json', '--no-refresh'])).out) as { cost?: { estimate?: { expected: number; basis: string } } }[];
    assert.equal(job!.cost?.estimate?.expected, 0.00384);
    assert.match(job!.cost?.estimate?.basis ?? '', /^Together estimate-price for 8,000 training tokens/);
  });

  it('submit then cancel through the CLI; logs shows the cancel event', async () => {
    server.steps = 50;
    const sub = await cli(['submit', '-p', 'together', '--model', MODEL, '--dataset', 'data/train.jsonl', '--yes', '--keep-uploads', '--json']);
    assert.equal(sub.code, 0, sub.err);
    const { job } = JSON.parse(sub.out) as { job: { id: string; status: string } };
    assert.equal(job.status, 'queued');
    const c = await cli(['cancel', job.id]);
    assert.equal(c.code, 0, c.err);
    const logs = await cli(['logs', job.id, '--follow']);
    assert.equal(logs.code, 1, 'a cancelled job is not a success');
    assert.match(logs.out, /Cancel requested/);
    const [rec] = JSON.parse((await cli(['jobs', '--json'])).out) as { status: string; metadata: { uploadsKept?: boolean } }[];
    assert.equal(rec!.status, 'cancelled');
    assert.equal(rec!.metadata.uploadsKept, true);
    assert.equal(server.files.size, 1, '--keep-uploads kept the file');
  });

  it('a wrong key: exit 1, one message, no job in history, nothing at Together, the key printed nowhere', async () => {
    const wrong = 'tgp_v1_wrong0123456789abcdef01234';
    const r = await cli(['submit', '--provider', 'together', '--model', MODEL, '--dataset', 'data/train.jsonl', '--yes'], env({ TOGETHER_API_KEY: wrong }));
    assert.equal(r.code, 1);
    assert.match(r.err, /Together rejected the API key \(HTTP 401\)/);
    assert.ok(!r.err.includes(wrong) && !r.out.includes(wrong));
    assert.equal(server.jobs.size, 0);
    assert.equal(server.files.size, 0);
    assert.deepEqual(JSON.parse((await cli(['jobs', '--json'])).out), []);
    const files = await fs.readdir(home, { recursive: true }).catch(() => [] as string[]);
    for (const f of files) {
      const p = path.join(home, String(f));
      if ((await fs.stat(p)).isFile()) assert.ok(!(await fs.readFile(p, 'utf8')).includes(wrong), `${f} holds the key`);
    }
  });

  it('one bad line: exit 1 naming line and field; nothing sent', async () => {
    await fs.appendFile(path.join(dir, 'data', 'train.jsonl'), '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}\n');
    const r = await cli(['submit', '--provider', 'together', '--model', MODEL, '--dataset', 'data/train.jsonl', '--yes']);
    assert.equal(r.code, 1);
    assert.match(r.err, /train\.jsonl:41 \(messages\[1\]\.content\)/);
    assert.equal(server.requests.length, 0);
  });

  it('without --yes on a terminal: the plan lists file, size, lines and destination before asking; "no" sends nothing', async () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const io = capturedIo({ env: env(), cwd: dir, dataHome: home });
    stdin.write('n\n');
    const code = await submitCommand(['--provider', 'together', '--model', MODEL, '--dataset', 'data/train.jsonl'], io, { stdin });
    assert.equal(code, 130, 'declined, like every submit');
    const err = io.err();
    assert.match(err, /training: .*data\/train\.jsonl — [\d.]+ [KM]?i?B, 40 lines/);
    assert.match(err, /Destination: Together AI \(api\.together\.xyz/);
    assert.match(err, /deleted from Together when the job ends/);
    assert.match(err, /Upload\? \[o\]nce/);
    assert.equal(server.requests.length, 0);
  });

  it('through the built dist/cli.js (a real process): submit --follow succeeds and the process exits by itself', async function () {
    await fs.access(CLI_JS).catch(() => { throw new Error(`${CLI_JS} is missing: run npm run build first`); });
    try {
      const r = await runCli(['submit', '--provider', 'together', '--model', MODEL, '--dataset', 'data/train.jsonl', '--no-download', '--yes', '--follow'], {
        env: { ...env(), CLOUD_TRAINING_HOME: home }, cwd: dir, quietLimitMs: 8000, hardLimitMs: 30_000,
      });
      assert.equal(r.hung, false, 'exited by itself');
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /job_complete/);
      assert.equal(server.jobs.size, 1);
      assert.equal(server.files.size, 0);
    } finally {
      killLiveClis();
    }
  });

  it('bad usage exits 2', async () => {
    const r = await cli(['submit', '--provider', 'together', '--dataset', 'data/train.jsonl', '--yes']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--model and --dataset are required/);
  });
});
