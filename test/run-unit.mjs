#!/usr/bin/env node
// Runs the mocha unit/integration suites (plain Node, real files, real processes, real local servers).
// Usage: node test/run-unit.mjs [glob ...]   (default: every test/unit/**/*.test.ts)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const specs = process.argv.slice(2);
const args = [
  path.join(root, 'node_modules/mocha/bin/mocha.js'),
  '--require', 'tsx/cjs',
  '--reporter', path.join(root, 'test/support/summary-reporter.cjs'),
  '--timeout', '60000',
  '--exit',
  ...(specs.length ? specs : ['test/unit/**/*.test.ts']),
];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
