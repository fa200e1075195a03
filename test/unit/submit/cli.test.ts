import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { runEstimate } from '../../../src/cli/commands/estimate';
import { runSubmit, submitCommand } from '../../../src/cli/commands/submit';
import { ExitCode, UsageError, type CliIO } from '../../../src/cli/io';
import { JobSchema } from '../../../src/core/jobs/schema';
import { periodStart } from '../../../src/core/cost/spending';
import { harness, type Harness } from './fixtures';
import { capturedIo } from '../../support/captured-io';

function capture(h: Harness, env: NodeJS.ProcessEnv = {}): CliIO & { out(): string; err(): string } {
  return capturedIo({ env: { PATH: process.env.PATH, ...env }, cwd: h.ws.workspace, dataHome: h.layout.home });
}

describe('cli: submit and estimate', () => {
  let h: Harness;
  beforeEach(() => { h = harness(); });
  afterEach(() => h.dispose());

  it('submit --provider local --follow runs the command, prints the job id and exits 0 only on success', async () => {
    const io = capture(h);
    const code = await runSubmit(['--provider', 'local', '--config', 'config/config.json', '--command', 'echo "training {config}"; echo "step 3/3 loss=0.5"', '--yes', '--follow'], io);
    assert.equal(code, 0, io.err());
    const [job] = await h.history.list();
    assert.ok(job);
    assert.ok(io.out().startsWith(`${job.id}\n`), io.out());
    assert.match(io.out(), /training .*config\.json/);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.consent?.decision, 'not-required');

    const failing = capture(h);
    assert.equal(await runSubmit(['--provider', 'local', '--command', 'echo bad; exit 4', '--yes', '--follow'], failing), 1);
    assert.match(failing.err(), /failed/);
  });

  it('takes the local command from the workspace settings like the editor (and from the environment)', async () => {
    mkdirSync(path.join(h.ws.workspace, '.vscode'));
    writeFileSync(path.join(h.ws.workspace, '.vscode', 'settings.json'), '{\n  // comment\n  "cloudTraining.local.command": "echo from-settings {config}",\n}');
    const io = capture(h);
    assert.equal(await runSubmit(['--provider', 'local', '--config', h.ws.config, '--yes', '--follow'], io), 0, io.err());
    assert.match(io.out(), /from-settings .*config\.json/);
    const envIo = capture(h, { CLOUD_TRAINING_LOCAL_COMMAND: 'echo from-env' });
    assert.equal(await runSubmit(['--provider', 'local', '--config', h.ws.config, '--yes', '--follow'], envIo), 0, envIo.err());
    assert.match(envIo.out(), /from-env/);
  });

  it('--json prints the job and estimate', async () => {
    const io = capture(h);
    assert.equal(await runSubmit(['--provider', 'local', '--command', 'true', '--json', '--yes'], io), 0, io.err());
    const parsed = JSON.parse(io.out()) as { job: unknown; estimate: { provider: string } };
    assert.equal(JobSchema.parse(parsed.job).provider, 'local');
    assert.equal(parsed.estimate.provider, 'local');
  });

  it('refuses past a spending limit with exit code 3 and the figures, creating nothing', async () => {
    mkdirSync(h.layout.home, { recursive: true });
    writeFileSync(path.join(h.layout.home, 'settings.json'), JSON.stringify({ 'cloudTraining.limits.daily': 0.05 }));
    const io = capture(h);
    const code = await submitCommand(['--provider', 'replicate', '--hardware', 'h100-x8', '--config', h.ws.config, '--yes'], io, { providers: h.providers, packager: h.packager });
    assert.equal(code, ExitCode.limit, io.err());
    assert.match(io.err(), /overall daily limit of \$0\.05: spent \$0\.00 today \+ this job's estimate \$\d+\.\d\d = \$\d+\.\d\d/);
    assert.deepEqual(await h.history.list(), []);
  });

  it('asks for consent on the terminal; "always" is remembered, "no" submits nothing', async () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const io = capture(h);
    const run = submitCommand(['--provider', 'replicate', '--hardware', 'l40s', '--config', h.ws.config], io, { providers: h.providers, packager: h.packager, stdin });
    // consent question, then the cost confirmation
    await waitFor(() => /Upload\?/.test(io.err()));
    stdin.write('a\n');
    await waitFor(() => /Start this job\?/.test(io.err()));
    stdin.write('\n');
    assert.equal(await run, 0, io.err());
    assert.match(io.err(), /cats: 3 files/);
    assert.match(io.err(), /Destination: Replicate/);
    assert.equal((await h.history.list())[0]?.consent?.decision, 'always-workspace');

    const stdin2 = Object.assign(new PassThrough(), { isTTY: true });
    const io2 = capture(h);
    const run2 = submitCommand(['--provider', 'replicate', '--hardware', 'l40s', '--config', h.ws.config, '--json'], io2, { providers: h.providers, packager: h.packager, stdin: stdin2 });
    await waitFor(() => /Start this job\?/.test(io2.err()));
    stdin2.write('n\n');
    assert.equal(await run2, 130);
    assert.doesNotMatch(io2.err(), /Upload\?/, 'remembered: not asked again');
    assert.equal((await h.history.list()).length, 1);
  });

  it('without a terminal and without --yes, an upload is refused rather than assumed', async () => {
    const io = capture(h);
    const code = await submitCommand(['--provider', 'replicate', '--hardware', 'l40s', '--config', h.ws.config], io, { providers: h.providers, packager: h.packager, stdin: Object.assign(new PassThrough(), { isTTY: false }) });
    assert.equal(code, 1);
    assert.match(io.err(), /pass --yes/);
    assert.deepEqual(await h.history.list(), []);
  });

  it('policy never (env) refuses cloud submission with exit 1 and a clear message', async () => {
    const io = capture(h, { CLOUD_TRAINING_UPLOAD_CONSENT: 'never' });
    const code = await submitCommand(['--provider', 'replicate', '--hardware', 'l40s', '--config', h.ws.config, '--yes'], io, { providers: h.providers, packager: h.packager });
    assert.equal(code, 1);
    assert.match(io.err(), /uploadConsent is "never"/);
  });

  it('a workspace .vscode/settings.json cannot allow uploads or raise limits (user-level only, as in VS Code)', async () => {
    mkdirSync(h.layout.home, { recursive: true });
    writeFileSync(path.join(h.layout.home, 'settings.json'), JSON.stringify({ 'cloudTraining.limits.daily': 0.05, 'cloudTraining.uploadConsent': 'never' }));
    mkdirSync(path.join(h.ws.workspace, '.vscode'));
    writeFileSync(path.join(h.ws.workspace, '.vscode', 'settings.json'), JSON.stringify({ 'cloudTraining.uploadConsent': 'allow', 'cloudTraining.limits': { daily: 1000 } }));
    const io = capture(h);
    const code = await submitCommand(['--provider', 'replicate', '--hardware', 'l40s', '--config', h.ws.config, '--yes'], io, { providers: h.providers, packager: h.packager });
    assert.equal(code, 1);
    assert.match(io.err(), /uploadConsent is "never"/);
    writeFileSync(path.join(h.layout.home, 'settings.json'), JSON.stringify({ 'cloudTraining.limits.daily': 0.05 }));
    const io2 = capture(h);
    assert.equal(await submitCommand(['--provider', 'replicate', '--hardware', 'l40s', '--config', h.ws.config, '--yes'], io2, { providers: h.providers, packager: h.packager }), ExitCode.limit, io2.err());
  });

  it('bad usage is a UsageError (exit 2)', async () => {
    await assert.rejects(runSubmit(['--provider', 'aws'], capture(h)), UsageError);
    await assert.rejects(runSubmit(['--provider', 'local', '--steps=-3'], capture(h)), UsageError);
    await assert.rejects(runSubmit(['--provider', 'local', '--bogus'], capture(h)), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
    await assert.rejects(runEstimate([h.ws.config, '--provider', 'replicate', '--hardware', 'tpu'], capture(h)), /Unknown hardware "tpu"/);
    await assert.rejects(runEstimate(['missing.json', '--provider', 'replicate', '--hardware', 'l40s'], capture(h)), UsageError);
    await assert.rejects(runSubmit(['--provider', 'local', '--config', 'missing.json'], capture(h)), UsageError);
  });

  it('estimate prints the figures, learns from history, and reports limits', async () => {
    const io = capture(h);
    assert.equal(await runEstimate([h.ws.config, '--provider', 'replicate', '--hardware', 'l40s', '--json'], io), 0);
    const first = JSON.parse(io.out()) as { estimate: { steps: number; basis: string; cost: { expected: number } }; limits: { ok: boolean } };
    assert.equal(first.estimate.steps, 100);
    assert.equal(first.estimate.basis, 'default');
    assert.equal(first.limits.ok, true);

    // An hour ago, but never before local midnight: the job must count as today's spend whenever the suite runs.
    const t0 = new Date(Math.max(periodStart('day', new Date()).getTime(), Date.now() - 3600_000)).toISOString();
    await h.history.add(JobSchema.parse({ id: 'done1', name: 'x', provider: 'replicate', hardware: 'l40s', status: 'succeeded', createdAt: t0, updatedAt: t0, finishedAt: t0, progress: { step: 100, secondsPerStep: 10 }, cost: { actual: 2 } }));
    writeFileSync(path.join(h.layout.home, 'settings.json'), JSON.stringify({ cloudTraining: { limits: { perProvider: { replicate: { daily: 2.5 } } } } }));
    const io2 = capture(h);
    assert.equal(await runEstimate([h.ws.config, '--provider', 'replicate', '--hardware', 'l40s'], io2), 0);
    assert.match(io2.out(), /learned from your 1 finished job/);
    assert.match(io2.out(), /Spent: \$2\.00 today/);
    assert.match(io2.out(), /Would be refused:\nBlocked by the replicate daily limit of \$2\.50/);
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
