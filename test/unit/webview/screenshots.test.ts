import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');

/**
 * Runs scripts/screenshots/webviews.mjs: every view rendered in headless Chromium (Debian package
 * `chromium`) with sample data, under the real CSP, in a dark and a light theme. The script itself
 * checks the data is on screen, no CSP violation or network request happened, and the buttons post
 * the right requests; here we check it passed and produced the images.
 */
describe('webview screenshots (headless chromium)', function () {
  this.timeout(120_000);
  let out: string;
  before(() => { out = mkdtempSync(path.join(os.tmpdir(), 'ct-shots-')); });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('renders consent, cost and job details with their data, in dark and light themes', async () => {
    const child = spawn(process.execPath, [path.join(root, 'scripts/screenshots/webviews.mjs'), '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, log);
    assert.match(log, /all webviews rendered with their data/);
    const pngs = readdirSync(out).filter((f) => f.endsWith('.png')).sort();
    assert.deepEqual(pngs, ['consent-dark.png', 'consent-light.png', 'cost-blocked-dark.png', 'cost-blocked-light.png', 'cost-dark.png', 'cost-light.png', 'job-dark.png', 'job-gpu-dark.png', 'job-gpu-light.png', 'job-light.png']);
    for (const f of pngs) {
      const buf = readFileSync(path.join(out, f));
      assert.equal(buf.subarray(1, 4).toString(), 'PNG', f);
      assert.ok(buf.length > 10_000, `${f} is ${buf.length} bytes: probably blank`);
    }
  });
});
