import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { main } from '../../../src/cli/main';
import { tempDir } from '../../support/tmp';
import { capturedIo } from '../../support/captured-io';

const EXAMPLE = path.resolve(__dirname, '../../../examples/simpletuner-demo');

async function cli(argv: string[], home: string, cwd = EXAMPLE, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const io = capturedIo({ env: { PATH: process.env.PATH, HOME: process.env.HOME, DEMO_STEP_SECONDS: '0.002', ...env }, cwd, dataHome: home });
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err() };
}

describe('cloudtrain CLI', () => {
  let t: ReturnType<typeof tempDir>;
  const saved = process.env.DEMO_STEP_SECONDS;
  beforeEach(() => { t = tempDir(); process.env.DEMO_STEP_SECONDS = '0.002'; });
  afterEach(() => { t.cleanup(); if (saved === undefined) delete process.env.DEMO_STEP_SECONDS; else process.env.DEMO_STEP_SECONDS = saved; });

  it('submits the example locally, follows it to the end, and lists it as succeeded at 100%', async function () {
    this.timeout(60_000);
    const sub = await cli(['submit', '--provider', 'local', '--config', 'config/config.json', '--yes', '--follow'], t.dir);
    assert.equal(sub.code, 0, sub.err);
    assert.match(sub.out, /Training complete/);
    const list = await cli(['jobs', '--json'], t.dir);
    assert.equal(list.code, 0);
    const jobs = JSON.parse(list.out);
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].status, 'succeeded');
    assert.equal(jobs[0].progress.percent, 100);
    const logs = await cli(['logs', jobs[0].id.slice(0, 10)], t.dir);
    assert.equal(logs.code, 0);
    assert.equal(logs.out.split('\n').filter((l) => l.includes('Steps:')).length, 120, 'every progress line exactly once');
    const table = await cli(['jobs'], t.dir);
    assert.match(table.out, /succeeded\s+local/);
  });

  it('cancels a running job by id and records it', async function () {
    this.timeout(30_000);
    const sub = await cli(['submit', '--provider', 'local', '--config', 'config/config.json', '--command', 'sleep 60', '--yes'], t.dir);
    assert.equal(sub.code, 0, sub.err);
    const id = (JSON.parse((await cli(['jobs', '--json'], t.dir)).out) as { id: string }[])[0]!.id;
    const c = await cli(['cancel', id], t.dir);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /cancelled/);
    const jobs = JSON.parse((await cli(['jobs', '--json'], t.dir)).out);
    assert.equal(jobs[0].status, 'cancelled');
    const del = await cli(['delete', id], t.dir);
    assert.equal(del.code, 0);
    assert.deepEqual(JSON.parse((await cli(['jobs', '--json'], t.dir)).out), []);
  });

  it('exits non-zero with a one-line reason on errors and bad usage', async () => {
    const unknown = await cli(['frobnicate'], t.dir);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown command "frobnicate"/);
    const missing = await cli(['logs', 'nope'], t.dir);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /No job with id "nope"/);
    assert.equal(missing.err.trim().split('\n').length, 1);
    const badFlag = await cli(['jobs', '--bogus'], t.dir);
    assert.equal(badFlag.code, 2);
    const noCommand = await cli(['submit', '--provider', 'local', '--config', 'config/config.json', '--yes'], t.dir, EXAMPLE, { });
    // The example's .vscode/settings.json supplies the command, so this one works…
    assert.equal(noCommand.code, 0, noCommand.err);
    // …and outside a workspace with a command setting it fails clearly.
    const ws = path.join(t.dir, 'ws');
    await fs.cp(path.join(EXAMPLE, 'config'), path.join(ws, 'config'), { recursive: true });
    const none = await cli(['submit', '--provider', 'local', '--config', 'config/config.json', '--yes'], path.join(t.dir, 'home'), ws);
    assert.equal(none.code, 1);
    assert.match(none.err, /cloudTraining\.local\.command/);
  });
});
