import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ALL_RULES } from '../../../src/core/config/rules';
import { renderValidateSection, withValidateSection } from '../../../scripts/validate-docs';

describe('config: the README documents exactly the checks validate makes', () => {
  it('the "What validate checks" table is what the rules\' metadata generates (run scripts/gen-validate-docs.ts after changing a rule)', () => {
    const readme = readFileSync(path.resolve(__dirname, '../../../README.md'), 'utf8');
    assert.equal(withValidateSection(readme), readme);
    const table = renderValidateSection();
    for (const r of ALL_RULES) assert.ok(table.includes(`| \`${r.code}\` | ${r.severity} |`), r.code);
  });

  it('every rule has a unique code and names the SimpleTuner check it mirrors', () => {
    const codes = ALL_RULES.map((r) => r.code);
    assert.equal(new Set(codes).size, codes.length, 'codes are unique');
    for (const r of ALL_RULES) assert.match(r.mirrors, /\.py |Cloud Training/, `${r.code}: ${r.mirrors}`);
  });
});
