// Entry point VS Code's extension host calls (extensionTestsPath): runs every *.test.js next to it.
import Mocha from 'mocha';
import { readdirSync } from 'node:fs';
import path from 'node:path';

export function run(): Promise<void> {
  const root = process.env.CT_REPO_ROOT ?? path.resolve(__dirname, '../../..');
  // A runtime path: the reporter prints the closing "N passed, N failed" line CI tools read.
  const reporterPath = path.join(root, 'test/support/summary-reporter.cjs');
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: true, reporter: require(reporterPath) });
  for (const f of readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort()) mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
  });
}
