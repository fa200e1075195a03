// `npm run test:vscode`: the extension-host suite in a real desktop VS Code via @vscode/test-electron.
// @vscode/test-electron DOWNLOADS VS Code, so this runs where that is reachable (a laptop, a public
// CI) — not on the offline project machines, whose CI runs the same behaviours through
// `npm run test:e2e` (code-server from the npm registry) instead.
//   1. builds the extension (dist/) and the suite (out/integration/suite/*.js, vscode external),
//   2. seeds CLOUD_TRAINING_HOME with a job history and a job log,
//   3. opens a copy of examples/simpletuner-demo with only our extension enabled.
// `--dry-run` does 1–2 and stops before the download (checks the runner offline).
import { runTests } from '@vscode/test-electron';
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobHistory } from '../../src/core/jobs/history';
import { newJob } from '../../src/core/jobs/factory';
import { dataLayout } from '../../src/core/paths';
import type { SeededJobs } from './suite/seed';

const root = path.resolve(__dirname, '../..');

async function seedHistory(home: string, workspace: string): Promise<SeededJobs> {
  const layout = dataLayout(home);
  const history = new JobHistory(layout.historyDir);
  mkdirSync(layout.logsDir, { recursive: true });
  const trainingConfig = path.join(workspace, 'config/config.json');
  const done = newJob(layout, { provider: 'local', workspace, trainingConfig, name: 'seeded succeeded job' });
  await history.add(done);
  const now = new Date().toISOString();
  await history.update(done.id, (j) => ({ ...j, status: 'succeeded', startedAt: now, finishedAt: now, progress: { step: 120, totalSteps: 120 }, metadata: { ...j.metadata, finalized: true } }));
  const lines = ['Loading dataloader config config/multidatabackend.json', 'Epoch 1/1, Steps:  50%|█████     | 60/120 [00:03<00:03, 20.00it/s, lr=0.5, step_loss=0.01000]',
    'Epoch 1/1, Steps: 100%|██████████| 120/120 [00:06<00:00, 20.00it/s, lr=0.5, step_loss=0.00500]', 'Training complete: final loss 0.00500; weights written to output/models/pytorch_lora_weights.json'];
  writeFileSync(done.logPath!, lines.join('\n') + '\n');
  const failed = newJob(layout, { provider: 'local', workspace, trainingConfig, name: 'seeded failed job' });
  await history.add(failed);
  await history.update(failed.id, (j) => ({ ...j, status: 'failed', error: 'exit code 1', finishedAt: now, metadata: { ...j.metadata, finalized: true } }));
  return { succeeded: { id: done.id, name: done.name, logLine: lines.at(-1)! }, failed: { id: failed.id, name: failed.name } };
}

async function main(): Promise<number> {
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) return 1;
  const outDir = path.join(root, 'out/integration/suite');
  rmSync(outDir, { recursive: true, force: true });
  const suiteDir = path.join(__dirname, 'suite');
  await esbuild.build({
    entryPoints: readdirSync(suiteDir).filter((f) => f.endsWith('.ts')).map((f) => path.join(suiteDir, f)),
    outdir: outDir, bundle: true, platform: 'node', format: 'cjs', target: 'node20', sourcemap: true,
    external: ['vscode', 'mocha'], logLevel: 'warning',
  });

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cloud-training-vscode-'));
  try {
    const workspace = path.join(tmp, 'simpletuner-demo');
    cpSync(path.join(root, 'examples/simpletuner-demo'), workspace, { recursive: true });
    const home = path.join(tmp, 'home');
    const seeded = await seedHistory(home, workspace);
    if (process.argv.includes('--dry-run')) {
      // Offline check of everything but the download: the suite built, the history seeded.
      const jobs = await new JobHistory(dataLayout(home).historyDir).list();
      console.log(`dry run: suite in ${path.relative(root, outDir)} (${readdirSync(outDir).filter((f) => f.endsWith('.js')).join(', ')}); ${jobs.length} seeded jobs: ${jobs.map((j) => `${j.name} [${j.status}]`).join(', ')}`);
      return 0;
    }
    return await runTests({
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(outDir, 'index.js'),
      launchArgs: [workspace, '--disable-extensions', '--user-data-dir', path.join(tmp, 'user-data'), '--skip-welcome', '--skip-release-notes', '--disable-workspace-trust'],
      extensionTestsEnv: { CLOUD_TRAINING_HOME: home, CT_SEEDED_JOBS: JSON.stringify(seeded), CT_REPO_ROOT: root },
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(e);
  console.log('\n0 passed, 1 failed');
  process.exit(1);
});
