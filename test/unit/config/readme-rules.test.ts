import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ALL_RULES } from '../../../src/core/config/rules';
import { BACKEND_TYPES, CAPTION_STRATEGIES, DATASET_TYPES } from '../../../src/core/config/simpletuner';
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

describe('config: the editor\'s JSON schema offers what SimpleTuner accepts', () => {
  it('has SimpleTuner\'s full sets of type, dataset_type and caption_strategy', () => {
    const schema = JSON.parse(readFileSync(path.resolve(__dirname, '../../../media/schemas/multidatabackend.schema.json'), 'utf8')) as { definitions: { dataset: { properties: Record<string, { enum?: unknown[] }> } } };
    const p = schema.definitions.dataset.properties;
    assert.deepEqual(p.type!.enum, [...BACKEND_TYPES]);
    assert.deepEqual(p.dataset_type!.enum, [...DATASET_TYPES, null]);
    assert.deepEqual(p.caption_strategy!.enum, [...CAPTION_STRATEGIES, null]);
  });
});
