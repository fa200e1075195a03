#!/usr/bin/env node
// Packaging benchmark (PRODUCT.md targets): generate ≥1 GB of image files, then in one run time
//   ours (buildPackage: zip + sha256 manifest + verification) vs `zip -r -q` vs `cat files > /dev/null`,
//   our peak RSS, and a re-package of the unchanged dataset.
// Targets: ≥2× faster than zip, ≤1.3× cat, peak RSS < 150 MB, re-package < 10% of the first run.
// Usage: node benchmarks/packaging.mjs [--gb 1] [--files 3000] [--keep] [--cold]
//   --cold drops the page cache before every measurement (root only; affects the whole machine).
import { spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const keep = process.argv.includes('--keep');
const cold = process.argv.includes('--cold');
const totalBytes = Math.round(Number(arg('gb', '1')) * 1024 ** 3);
const fileCount = Number(arg('files', '3000'));

const dataDir = path.join(root, 'benchmarks/.data/packaging');
const ws = path.join(dataDir, 'workspace');
const dsDir = path.join(ws, 'datasets/photos');
const outDir = path.join(dataDir, 'out');
const cacheDir = path.join(dataDir, 'cache');

function generate() {
  if (existsSync(path.join(dataDir, '.complete'))) return;
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dsDir, { recursive: true });
  // Incompressible bytes behind real JPEG/PNG signatures: what a folder of photos looks like to a zipper.
  const pool = randomBytes(8 * 1024 * 1024);
  const per = Math.floor(totalBytes / fileCount);
  for (let i = 0; i < fileCount; i++) {
    const sub = path.join(dsDir, `batch-${String(i % 20).padStart(2, '0')}`);
    if (i < 20) mkdirSync(sub, { recursive: true });
    const png = i % 4 === 0;
    const name = path.join(sub, `img_${String(i).padStart(5, '0')}.${png ? 'png' : 'jpg'}`);
    const size = Math.max(1024, Math.round(per * (0.5 + ((i * 7919) % 1000) / 1000)));
    const fd = openSync(name, 'w');
    writeSync(fd, png ? Buffer.from('89504e470d0a1a0a', 'hex') : Buffer.from('ffd8ffe000104a464946', 'hex'));
    for (let left = size, off = (i * 65537) % pool.length; left > 0;) {
      const n = Math.min(left, pool.length - off);
      writeSync(fd, pool, off, n);
      left -= n; off = 0;
    }
    closeSync(fd);
    writeFileSync(name.replace(/\.(png|jpg)$/, '.txt'), `a photo of sks dog, variant ${i}`);
  }
  mkdirSync(path.join(ws, 'config'), { recursive: true });
  writeFileSync(path.join(ws, 'config/multidatabackend.json'), JSON.stringify([
    { id: 'photos', type: 'local', instance_data_dir: 'datasets/photos', caption_strategy: 'textfile', resolution: 1024, cache_dir_vae: 'cache/vae' },
    { id: 'text', type: 'local', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/text' },
  ], null, 2));
  writeFileSync(path.join(dataDir, '.complete'), '');
}

function dropCaches() {
  if (!cold) return;
  execFileSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

function warm() {
  if (cold) return;
  spawnSync('sh', ['-c', `find "${dsDir}" -type f -print0 | xargs -0 cat > /dev/null`]);
}

/** Wall time plus CPU time and peak RSS from GNU time: on a shared, busy machine CPU time is the steadier figure. */
function time(label, cmd, args, opts = {}) {
  dropCaches(); warm();
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr || r.error}`);
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr);
  if (!m) throw new Error(`${label}: no timing in ${r.stderr}`);
  return { s: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), rssMb: Number(m[4]) / 1024, stdout: r.stdout };
}

console.log(`Generating dataset (${(totalBytes / 1024 ** 3).toFixed(2)} GB, ${fileCount} images + captions) under benchmarks/.data/ …`);
generate();

// Ours runs as the shipped code does: one esbuild bundle, in its own process (so its peak RSS is its own).
const runner = path.join(dataDir, 'run-package.cjs');
await esbuild.build({
  stdin: {
    contents: `const { buildPackage } = require(${JSON.stringify(path.join(root, 'src/core/packaging/index.ts'))});
      buildPackage({ dataloaderConfigPath: process.argv[2], outDir: process.argv[3], cacheDir: process.argv[4] })
        .then((r) => { process.stdout.write(JSON.stringify({ reused: r.reused, files: r.totalFiles, bytes: r.totalBytes, zipBytes: r.zipBytes, durationMs: r.durationMs })); })
        .catch((e) => { console.error(e); process.exit(1); });`,
    resolveDir: root, loader: 'ts',
  },
  bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: runner, logLevel: 'warning',
  alias: { 'jsonc-parser': './node_modules/jsonc-parser/lib/esm/main.js' },
});

rmSync(outDir, { recursive: true, force: true });
rmSync(cacheDir, { recursive: true, force: true });
const dsBytes = Number(execFileSync('du', ['-sb', dsDir], { encoding: 'utf8' }).split('\t')[0]);
const nFiles = readdirSync(dsDir, { recursive: true }).filter((f) => /\.(jpg|png|txt)$/.test(String(f))).length;
console.log(`Dataset: ${nFiles} files, ${(dsBytes / 1024 ** 2).toFixed(0)} MiB; page cache ${cold ? 'dropped before each run (--cold)' : 'warm (each run preceded by a read of the dataset)'}\n`);

const cat = time('cat', 'sh', ['-c', `find "${dsDir}" -type f -print0 | xargs -0 cat > /dev/null`]);
const zipOut = path.join(dataDir, 'baseline.zip');
rmSync(zipOut, { force: true });
const zip = time('zip', 'zip', ['-r', '-q', zipOut, 'datasets/photos'], { cwd: ws });
rmSync(zipOut, { force: true });
const first = time('ours', process.execPath, [runner, path.join(ws, 'config/multidatabackend.json'), outDir, cacheDir]);
const firstR = JSON.parse(first.stdout);
const again = time('ours (unchanged)', process.execPath, [runner, path.join(ws, 'config/multidatabackend.json'), outDir, cacheDir]);
const againR = JSON.parse(again.stdout);

const mbps = (s) => `${(dsBytes / 1024 ** 2 / s).toFixed(0)} MiB/s`;
console.log(`${'run'.padEnd(32)} ${'wall'.padStart(8)} ${'cpu'.padStart(8)} ${'throughput'.padStart(11)}  peak RSS`);
const row = (name, r, note = '') => console.log(`${name.padEnd(32)} ${r.s.toFixed(2).padStart(6)} s ${r.cpu.toFixed(2).padStart(6)} s ${mbps(r.s).padStart(11)}  ${r.rssMb.toFixed(0).padStart(4)} MB  ${note}`);
row('cat > /dev/null (baseline)', cat);
row('zip -r -q (baseline)', zip);
row('ours: buildPackage (first)', first, `zip ${(firstR.zipBytes / 1024 ** 2).toFixed(0)} MiB, ${firstR.files} files`);
row('ours: re-package, unchanged', again, `reused=${againR.reused}`);
console.log('');
const check = (ok, text) => console.log(`${ok ? 'PASS' : 'MISS'}  ${text}`);
check(zip.s / first.s >= 2, `vs zip -r -q: ${(zip.s / first.s).toFixed(2)}× faster wall, ${(zip.cpu / first.cpu).toFixed(2)}× less CPU (target ≥ 2×)`);
check(first.s / cat.s <= 1.3, `vs cat: ${(first.s / cat.s).toFixed(2)}× cat's wall time, ${(first.cpu / Math.max(cat.cpu, 0.01)).toFixed(2)}× its CPU (target ≤ 1.3×)`);
check(first.rssMb < 150, `peak RSS ${first.rssMb.toFixed(0)} MB (target < 150 MB)`);
// Both ways: whole processes (includes ~0.3 s of Node start-up and bundle loading in each) and
// buildPackage's own duration, which is what an open editor or a long-lived CLI pays.
check(againR.reused && againR.durationMs / firstR.durationMs < 0.1,
  `re-package: ${((againR.durationMs / firstR.durationMs) * 100).toFixed(1)}% of the first run in-process (${againR.durationMs} ms vs ${firstR.durationMs} ms); ` +
  `${((again.s / first.s) * 100).toFixed(1)}% as whole processes (target < 10%)`);
console.log(`\nload average during the run: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs`);

if (!keep) rmSync(dataDir, { recursive: true, force: true });
else console.log(`\nkept ${dataDir}`);
