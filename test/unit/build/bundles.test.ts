import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const dist = (f: string) => path.join(root, 'dist', f);

/** `npm test` builds dist/ first; these check what ships, not the sources. */
describe('shipped bundles', () => {
  before(function () {
    if (!existsSync(dist('extension.js'))) this.skip(); // only when run without the build step
  });

  it('the extension bundle leaves the AWS SDK out; the CLI finds it beside itself', () => {
    const ext = readFileSync(dist('extension.js'), 'utf8');
    assert.ok(!ext.includes('@aws-sdk/lib-storage') && !/S3ServiceException/.test(ext), 'SDK code must not be in dist/extension.js (parsed at every activation)');
    const sdk = execFileSync(process.execPath, ['-e', `const m = require(${JSON.stringify(dist('vendor/aws-s3.js'))}); process.stdout.write(typeof m.S3Client + ' ' + typeof m.Upload)`], { encoding: 'utf8' });
    assert.equal(sdk, 'function function');
  });

  it('ssh2 is its own file too: out of the extension and CLI bundles, loadable beside them', () => {
    for (const b of ['extension.js', 'cli.js']) assert.ok(!readFileSync(dist(b), 'utf8').includes('ssh2js'), `ssh2 must not be in dist/${b}`);
    const ssh2 = execFileSync(process.execPath, ['-e', `const m = require(${JSON.stringify(dist('vendor/ssh2.js'))}); process.stdout.write(typeof m.Client + ' ' + typeof m.utils.parseKey)`], { encoding: 'utf8' });
    assert.equal(ssh2, 'function function');
  });
});
