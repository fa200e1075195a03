#!/usr/bin/env node
// Peak memory of uploading a package as large as Replicate's Files API takes (100 MiB, the limit
// SimpleTuner documents; larger packages are refused before upload) through the real `replicate`
// client (file-backed Blob streamed by our transport) against the local fake Replicate, beside the
// seed's way (read the archive whole, then upload the Buffer) measured in the same run.
// Run: node --import tsx benchmarks/replicate-upload.mjs [--mb 100] [--baseline-mb 256]
// Each uploader runs in its own child process so its peak RSS (maxRSS) is its own; the fake server
// stays in this process.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const arg = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const LIMIT_MB = 150;

if (argv[0] === '--child') {
  // Child: one upload, then print {maxRssMb, ms} on stdout.
  const [, mode, base, token, file, sha256] = argv;
  // The provider as it ships: bundled by esbuild (no TypeScript loader in the measured process).
  const { ReplicateProvider } = await import(pathToFileURL(process.env.CT_BENCH_BUNDLE).href);
  const { default: Replicate } = await import('replicate');
  globalThis.gc?.();
  const idleRssMb = process.memoryUsage().rss / 1024 / 1024;
  const t0 = Date.now();
  if (mode === 'streamed') {
    const provider = new ReplicateProvider({ getToken: async () => token, baseUrl: base });
    let last = 0;
    // A trainable model takes the package as it is (the SimpleTuner trainer's archive route would repackage it).
    await provider.submit(
      { id: `bench-${Date.now()}`, metadata: {} },
      { packagePath: file, options: { mode: 'trainable', model: 'ostris/flux-dev-lora-trainer', destination: 'tester/bench', createDestination: true } },
      { dataHome: os.tmpdir(), report: (_m, f) => { if (f !== undefined && f - last >= 0.25) { last = f; process.stderr.write(`  streamed upload ${Math.round(f * 100)}%\n`); } } },
    );
  } else {
    const client = new Replicate({ auth: token, baseUrl: base });
    const bytes = await fs.readFile(file); // the seed reads the archive whole
    await client.files.create(bytes, { sha256 });
  }
  process.stdout.write(JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024, idleRssMb, ms: Date.now() - t0 }));
  process.exit(0);
}

const { FakeReplicate } = await import(pathToFileURL(path.join(root, 'test/support/replicate-server/server.ts')).href);
const mb = Number(arg('--mb', '100'));
const baselineMb = Number(arg('--baseline-mb', '256'));
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-replicate-bench-'));
const server = new FakeReplicate();
server.maxFileBytes = Infinity; // the seed-style baseline sends more than Replicate would take, to show how it grows
await server.start();
const bundle = path.join(dir, 'replicate-provider.cjs');
await (await import('esbuild')).build({ entryPoints: [path.join(root, 'src/providers/replicate/index.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: bundle, logLevel: 'warning' });

async function makeFile(name, sizeMb) {
  const file = path.join(dir, name);
  const fh = await fs.open(file, 'w');
  const block = randomFillSync(Buffer.alloc(4 * 1024 * 1024));
  const hash = createHash('sha256');
  for (let written = 0; written < sizeMb * 1024 * 1024; written += block.length) {
    block[0] = written & 0xff; // every block differs a little
    await fh.write(block);
    hash.update(block);
  }
  await fh.close();
  return { file, sha256: hash.digest('hex') };
}

function runChild(mode, file, sha256) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, server.base, server.token, file, sha256], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CT_BENCH_BUNDLE: bundle } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${mode} upload exited with ${code}`))));
  });
}

try {
  const big = await makeFile('package.zip', mb);
  const streamed = await runChild('streamed', big.file, big.sha256);
  const stored = [...server.files.values()].at(-1);
  if (stored.size !== mb * 1024 * 1024 || stored.checksums.sha256 !== big.sha256) throw new Error('the fake server received different bytes');
  const small = await makeFile('baseline.zip', baselineMb);
  const whole = await runChild('whole', small.file, small.sha256);
  const fmt = (n) => `${n.toFixed(0)} MB`;
  console.log(`Replicate package upload (real replicate client → local fake Replicate)`);
  console.log(`  ours, file-backed Blob streamed:  file ${mb} MiB   peak RSS ${fmt(streamed.maxRssMb)}   ${(mb / (streamed.ms / 1000)).toFixed(0)} MiB/s   (limit ${LIMIT_MB} MB: ${streamed.maxRssMb < LIMIT_MB ? 'PASS' : 'FAIL'}; the process idles at ${fmt(streamed.idleRssMb)} before uploading)`);
  console.log(`  baseline, seed-style read whole:  file ${baselineMb} MiB   peak RSS ${fmt(whole.maxRssMb)}   (grows with the file: ~${(whole.maxRssMb / baselineMb).toFixed(1)}× its size)`);
  process.exitCode = streamed.maxRssMb < LIMIT_MB ? 0 : 1;
} finally {
  await server.close();
  await fs.rm(dir, { recursive: true, force: true });
}
