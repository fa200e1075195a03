/** Rewrite the README's "What `validate` checks" table from the rules (`--check`: exit 1 if it is out of date). */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withValidateSection } from './validate-docs';

const file = path.resolve(__dirname, '../README.md');
const before = readFileSync(file, 'utf8');
const after = withValidateSection(before);
if (process.argv.includes('--check')) {
  if (after !== before) { console.error('README.md: the "What `validate` checks" table is out of date; run node --import tsx scripts/gen-validate-docs.ts'); process.exit(1); }
} else if (after !== before) {
  writeFileSync(file, after);
  console.log('README.md updated');
}
