#!/usr/bin/env node
// `npm run demo`: submits the example workspace as a local job through the CLI, follows its log to the
// end, and prints where the trained weights are. Uses the same data folder as the extension
// ($CLOUD_TRAINING_HOME or ~/.cloud-training), so `node dist/cli.js jobs` lists the job afterwards.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const example = path.join(root, 'examples', 'simpletuner-demo');
const cli = path.join(root, 'dist', 'cli.js');

const run = (args, opts = {}) => spawnSync(process.execPath, [cli, ...args], { cwd: example, encoding: 'utf8', ...opts });

console.log(`Submitting ${path.relative(root, example)}/config/config.json to this machine (demo trainer: train_demo.py)…\n`);
const submit = run(['submit', '--provider', 'local', '--config', 'config/config.json', '--yes', '--follow'], { stdio: 'inherit' });
if (submit.status !== 0) {
  console.error(`\nThe demo job did not succeed (exit ${submit.status}).`);
  process.exit(submit.status ?? 1);
}
const list = run(['jobs', '--json', '--no-refresh']);
const job = JSON.parse(list.stdout)[0];
const out = job?.outputs?.find((o) => o.kind === 'directory');
console.log(`\nJob ${job.id}: ${job.status}, ${job.progress.step}/${job.progress.totalSteps} steps (${job.progress.percent}%), final loss ${job.progress.loss}`);
console.log(`Weights: ${out ? path.join(out.uri, 'pytorch_lora_weights.json') : '(no output folder recorded)'}`);
console.log(`Log:     ${job.logPath}`);
console.log('List jobs: node dist/cli.js jobs   ·   Open the log again: node dist/cli.js logs ' + job.id);
