#!/usr/bin/env node
// Fine-tune dataset validation benchmark (issue 17): generate a chat JSONL (default 1 GB) in a temp
// folder, then in one run time
//   (a) ours: validateDataset (streamed, fast shape check, zod only for failing lines), in a child process
//   (b) bare Node loops that split lines and JSON.parse each one, in child processes: b1 splits decoded
//       strings (the usual idiom), b2 splits Buffers on 0x0A like ours; the ratio uses the faster one
//   (c) wc -l
// and print the three times, ours/bare, and each child's peak RSS (process.resourceUsage().maxRSS).
// Token counting is timed separately on the first --token-mb MB (Llama 3 tokenizer), as tokens/second.
// Targets: ours ≤ 1.5× bare, peak RSS < 200 MB.
// Each program runs --repeat times, alternating, and its fastest run counts (the machine is shared).
// Usage: node benchmarks/finetune-validate.mjs [--gb 1] [--token-mb 32] [--repeat 2] [--keep]
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const keep = process.argv.includes('--keep');
const repeat = Math.max(1, Number(arg('repeat', '2')));
const totalBytes = Math.round(Number(arg('gb', '1')) * 1024 ** 3);
const tokenBytes = Math.round(Number(arg('token-mb', '32')) * 1024 ** 2);
const dir = path.join(os.tmpdir(), 'cloudtrain-finetune-bench');
const data = path.join(dir, 'train.jsonl');
const sample = path.join(dir, 'sample.jsonl');

const WORDS = 'the model answers questions about llamas camels alpacas fine tuning datasets tokens epochs learning rate gradient während naïve café 東京 データ 🦙 with care and precision'.split(' ');
function content(seed, n) {
  let s = '';
  for (let i = 0; i < n; i++) s += (i ? ' ' : '') + WORDS[(seed * 31 + i * 7) % WORDS.length];
  return s;
}
function record(i) {
  const msgs = [{ role: 'system', content: 'You are a helpful assistant.' }];
  const turns = 1 + (i % 3);
  for (let t = 0; t < turns; t++) {
    msgs.push({ role: 'user', content: `${content(i + t, 12 + (i % 20))}?` });
    msgs.push({ role: 'assistant', content: `${content(i * 3 + t, 40 + (i % 60))}.` });
  }
  return JSON.stringify({ messages: msgs });
}

function generate(file, bytes) {
  // Reuse a dataset of the same size from an earlier --keep run.
  if (existsSync(`${file}.complete`) && readFileSync(`${file}.complete`, 'utf8') === String(bytes)) return;
  mkdirSync(dir, { recursive: true });
  const fd = openSync(file, 'w');
  let written = 0, i = 0, buf = '';
  while (written < bytes) {
    buf += `${record(i++)}\n`;
    if (buf.length > 4 * 1024 * 1024) { written += writeSync(fd, buf); buf = ''; }
  }
  if (buf) writeSync(fd, buf);
  closeSync(fd);
  writeFileSync(`${file}.complete`, String(bytes));
}

// The children: one bundle of ours (as shipped: esbuild, CommonJS) and a bare loop.
const oursEntry = path.join(dir, 'ours-entry.ts');
mkdirSync(dir, { recursive: true });
writeFileSync(oursEntry, `
import { validateDataset } from ${JSON.stringify(path.join(root, 'src/core/finetune/validate'))};
import { countDatasetTokens } from ${JSON.stringify(path.join(root, 'src/core/finetune/tokens'))};
import { llama3Counter } from ${JSON.stringify(path.join(root, 'src/core/finetune/tokenizers'))};
const [mode, file] = process.argv.slice(2);
const t0 = performance.now();
const run = mode === 'tokens' ? countDatasetTokens(file!, llama3Counter()) : validateDataset(file!);
run.then((r: any) => {
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ seconds, maxRssMB: process.resourceUsage().maxRSS / 1024, examples: r.examples, errors: r.errors ?? 0, tokens: r.tokens }));
});
`);
const oursBundle = path.join(dir, 'ours.cjs');
// As shipped: esbuild CommonJS bundles; the tokenizer is its own file in vendor/ beside the bundle,
// where src/vendor/load.ts looks for it.
const build = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning', absWorkingDir: root,
  nodePaths: (process.env.NODE_PATH ?? '').split(path.delimiter).filter(Boolean) };
await esbuild.build({ ...build, entryPoints: [oursEntry], outfile: oursBundle });
await esbuild.build({ ...build, entryPoints: [path.join(root, 'src/vendor/llama3-tokenizer.ts')], outfile: path.join(dir, 'vendor/llama3-tokenizer.js') });

const bareString = path.join(dir, 'bare-string.mjs');
writeFileSync(bareString, `
import { createReadStream } from 'node:fs';
const t0 = performance.now();
let carry = '', n = 0;
for await (const chunk of createReadStream(process.argv[2], { encoding: 'utf8', highWaterMark: 1 << 20 })) {
  const s = carry + chunk;
  let start = 0, nl;
  while ((nl = s.indexOf('\\n', start)) !== -1) { JSON.parse(s.slice(start, nl)); n++; start = nl + 1; }
  carry = s.slice(start);
}
if (carry) { JSON.parse(carry); n++; }
console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, maxRssMB: process.resourceUsage().maxRSS / 1024, examples: n }));
`);
const bareBuffer = path.join(dir, 'bare-buffer.mjs');
writeFileSync(bareBuffer, `
import { createReadStream } from 'node:fs';
const t0 = performance.now();
let carry = null, n = 0;
for await (const chunk of createReadStream(process.argv[2], { highWaterMark: 1 << 20 })) {
  let start = 0, nl;
  while ((nl = chunk.indexOf(10, start)) !== -1) {
    const s = carry ? Buffer.concat([carry, chunk.subarray(start, nl)]).toString() : chunk.toString('utf8', start, nl);
    carry = null;
    JSON.parse(s); n++; start = nl + 1;
  }
  if (start < chunk.length) carry = carry ? Buffer.concat([carry, chunk.subarray(start)]) : Buffer.from(chunk.subarray(start));
}
if (carry) { JSON.parse(carry.toString()); n++; }
console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, maxRssMB: process.resourceUsage().maxRSS / 1024, examples: n }));
`);

function child(args) {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20, env: { ...process.env } });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const g0 = performance.now();
generate(data, totalBytes);
console.log(`dataset: ${data} (${(statSync(data).size / 1024 ** 3).toFixed(2)} GB) ready in ${((performance.now() - g0) / 1000).toFixed(1)} s`);
console.log(`machine: ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);

const fastest = (runs) => runs.reduce((x, y) => (y.seconds < x.seconds ? y : x));
const runs = { ours: [], b1: [], b2: [], wc: [] };
for (let r = 0; r < repeat; r++) {
  runs.ours.push(child([oursBundle, 'validate', data]));
  runs.b1.push(child([bareString, data]));
  runs.b2.push(child([bareBuffer, data]));
  const w0 = performance.now();
  const lines = execFileSync('wc', ['-l', data], { encoding: 'utf8' }).trim().split(/\s+/)[0];
  runs.wc.push({ seconds: (performance.now() - w0) / 1000, examples: lines });
}
const ours = fastest(runs.ours), b1 = fastest(runs.b1), b2 = fastest(runs.b2), wc = fastest(runs.wc);
const bareR = b1.seconds < b2.seconds ? b1 : b2;
const all = (xs) => xs.map((x) => x.seconds.toFixed(2)).join(', ');

writeFileSync(sample, execFileSync('head', ['-c', String(tokenBytes), data], { maxBuffer: tokenBytes + 1024 }).toString('utf8').replace(/[^\n]*$/, ''));
const tok = child([oursBundle, 'tokens', sample]);

const ratio = ours.seconds / bareR.seconds;
console.log(`(a) ours            ${ours.seconds.toFixed(2)} s  peak RSS ${ours.maxRssMB.toFixed(0)} MB  (${ours.examples} examples, ${ours.errors} errors; runs: ${all(runs.ours)})`);
console.log(`(b1) bare, strings  ${b1.seconds.toFixed(2)} s  peak RSS ${b1.maxRssMB.toFixed(0)} MB  (${b1.examples} lines; runs: ${all(runs.b1)})`);
console.log(`(b2) bare, Buffers  ${b2.seconds.toFixed(2)} s  peak RSS ${b2.maxRssMB.toFixed(0)} MB  (${b2.examples} lines; runs: ${all(runs.b2)})`);
console.log(`(c) wc -l           ${wc.seconds.toFixed(2)} s  (${wc.examples} lines; runs: ${all(runs.wc)})`);
console.log(`ours / fastest bare = ${ratio.toFixed(2)}× (target ≤ 1.5×) · ours peak RSS ${ours.maxRssMB.toFixed(0)} MB (target < 200 MB) → ${ratio <= 1.5 && ours.maxRssMB < 200 ? 'PASS' : 'MISS'}`);
console.log(`tokens (Llama 3, first ${(tokenBytes / 1024 ** 2).toFixed(0)} MB): ${tok.tokens} tokens in ${tok.seconds.toFixed(2)} s = ${Math.round(tok.tokens / tok.seconds).toLocaleString('en-US')} tokens/s, ${(tokenBytes / 1024 ** 2 / tok.seconds).toFixed(1)} MB/s, peak RSS ${tok.maxRssMB.toFixed(0)} MB`);
if (!keep) rmSync(dir, { recursive: true, force: true });
