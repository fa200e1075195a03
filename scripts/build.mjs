#!/usr/bin/env node
// One esbuild call per bundle: the extension (vscode external), the CLI, and every webview front end.
// Usage: node scripts/build.mjs [--watch] [--minify]
import * as esbuild from 'esbuild';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const watch = process.argv.includes('--watch');
const minify = process.argv.includes('--minify') || process.env.CI === 'true';

const common = { bundle: true, sourcemap: true, minify, logLevel: 'warning', absWorkingDir: root };
const node = { ...common, platform: 'node', target: 'node20', format: 'cjs',
  // Prefer ESM entry points: jsonc-parser's UMD build hides its requires from the bundler.
  mainFields: ['module', 'main'],
  // ssh2 optionally loads native crypto helpers; the pure-JS fallback is what we ship.
  external: ['vscode', 'cpu-features', './crypto/build/Release/sshcrypto.node'],
  // jsonc-parser's "main" is a UMD build whose dynamic requires esbuild cannot follow; use its ES build.
  alias: { 'jsonc-parser': './node_modules/jsonc-parser/lib/esm/main.js' } };

/** webview/<name>/main.ts → dist/webview/<name>.js */
const webviewDir = path.join(root, 'webview');
const webviewEntries = existsSync(webviewDir)
  ? readdirSync(webviewDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(path.join(webviewDir, d.name, 'main.ts')))
      .map((d) => ({ in: path.join('webview', d.name, 'main.ts'), out: d.name }))
  : [];

/** zod re-exports all of its ~50 locales (~260 KB minified); our messages are English, so bundle only that one. */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /[\\/]locales[\\/]index\.js$/ }, (a) =>
      /[\\/]zod[\\/]/.test(a.importer) ? { path: path.resolve(path.dirname(a.importer), '../locales/en.js') } : undefined);
  },
};

const builds = [
  { ...node, entryPoints: ['src/vscode/extension.ts'], outfile: 'dist/extension.js', plugins: [zodEnglishOnly] },
  // Fine-tune dataset analysis (validation + token counts) off the extension host's thread.
  { ...node, entryPoints: ['src/core/finetune/analysis-worker.ts'], outfile: 'dist/finetune-worker.js', plugins: [zodEnglishOnly] },
  { ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' }, plugins: [zodEnglishOnly] },
  // Loaded on first use (src/vendor/load.ts), not parsed at activation: the AWS SDK for results
  // delivery, ssh2 for SSH and Slurm connections.
  { ...node, entryPoints: ['src/vendor/aws-s3.ts'], outfile: 'dist/vendor/aws-s3.js' },
  { ...node, entryPoints: ['src/vendor/ssh2.ts'], outfile: 'dist/vendor/ssh2.js' },
  // The Together AI SDK for managed fine-tuning (src/providers/together/api.ts).
  { ...node, entryPoints: ['src/vendor/together.ts'], outfile: 'dist/vendor/together.js' },
  // Llama 3 tokenizer for fine-tune token counts (vocabulary baked in, ~3.2 MB): loaded on first count.
  { ...node, entryPoints: ['src/vendor/llama3-tokenizer.ts'], outfile: 'dist/vendor/llama3-tokenizer.js' },
  ...(webviewEntries.length
    ? [{ ...common, platform: 'browser', target: 'es2022', format: 'iife', entryPoints: webviewEntries, outdir: 'dist/webview', plugins: [zodEnglishOnly] }]
    : []),
];

if (!watch) rmSync(path.join(root, 'dist'), { recursive: true, force: true });
if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('watching…');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
