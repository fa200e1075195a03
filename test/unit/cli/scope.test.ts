import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { CliScope, scoped, signalExitCode } from '../../../src/cli/scope';
import { capturedIo } from '../../support/captured-io';

const root = path.resolve(__dirname, '../../..');

describe('CliScope: what one CLI invocation owns', () => {
  it('closes everything once, newest first, past a failing disposer; later additions close at once', async () => {
    const scope = new CliScope();
    const closed: string[] = [];
    scope.defer(() => { closed.push('registry'); });
    scope.use({ dispose: () => { closed.push('monitor'); throw new Error('boom'); } });
    scope.defer(async () => { await new Promise((r) => setImmediate(r)); closed.push('tail'); });
    await Promise.all([scope.dispose(), scope.dispose()]);
    assert.deepEqual(closed, ['tail', 'monitor', 'registry']);
    assert.ok(scope.signal.aborted, 'waiters stop when the invocation ends');
    assert.equal(scope.interruptedBy, undefined, 'ending is not an interruption');
    scope.defer(() => { closed.push('late'); });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(closed, ['tail', 'monitor', 'registry', 'late']);
  });

  it('Ctrl-C/SIGTERM abort the signal and give the shell\'s exit codes', () => {
    const scope = new CliScope();
    scope.interrupt('SIGTERM');
    scope.interrupt('SIGINT');
    assert.equal(scope.interruptedBy, 'SIGTERM', 'the first signal counts');
    assert.ok(scope.signal.aborted);
    assert.equal(signalExitCode('SIGINT'), 130);
    assert.equal(signalExitCode('SIGTERM'), 143);
  });

  it('a command called directly (no main) still closes what it opened, on success and on error', async () => {
    const closed: string[] = [];
    const cmd = scoped(async (argv, io) => {
      io.scope.defer(() => { closed.push(argv[0]!); });
      if (argv[0] === 'fail') throw new Error('failed');
      return 0;
    });
    const io = capturedIo({ env: {}, cwd: root, dataHome: root });
    assert.equal(await cmd(['ok'], io), 0);
    await assert.rejects(cmd(['fail'], io), /failed/);
    assert.deepEqual(closed, ['ok', 'fail']);
    // Inside an invocation the caller's scope is used (and closed by the caller).
    const outer = new CliScope();
    assert.equal(await cmd(['nested'], { ...io, scope: outer }), 0);
    assert.deepEqual(closed, ['ok', 'fail']);
    await outer.dispose();
    assert.deepEqual(closed, ['ok', 'fail', 'nested']);
  });

  it('the exit guard: a handle left open is named and the process exits with the command\'s code, stdout complete', async function () {
    this.timeout(30_000);
    // A leaked interval (what the guard exists for): without the guard this process would never end.
    const script = `setInterval(() => {}, 1000); require(${JSON.stringify(path.join(root, 'src/cli/main.ts'))}).cli([], { stdout: process.stdout, stderr: process.stderr, env: {}, cwd: process.cwd(), dataHome: process.cwd() }, { exitGuardMs: 500 });`;
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('close', (c, s) => r([c, s])));
    clearTimeout(killer);
    assert.equal(signal, null, `killed: the guard did not fire\n${err}`);
    assert.equal(code, 2, 'the command\'s code (no command: usage, 2)');
    assert.match(out, /^cloudtrain — submit and track[\s\S]*Exit codes: 0 ok, 1 error, 2 bad usage, 3 refused by a spending limit, 130 Ctrl-C\.\n$/);
    assert.match(err, /still running 0\.5 s after the command ended \(open: [^)]*Timeout/);
  });
});
