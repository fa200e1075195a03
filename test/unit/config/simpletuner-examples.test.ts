import assert from 'node:assert/strict';
import * as config from '../../../src/core/config';
import { collectExamples, DEFAULT_MIRROR, mirrorAvailable, validateExample } from '../../../scripts/simpletuner-examples';

/**
 * SimpleTuner's own shipped dataloader configs, read from a local mirror of its repository (not in CI:
 * skipped, with the reason, when SIMPLETUNER_MIRROR / the default mirror is absent). Every config it
 * accepts validates with zero errors; the ones it refuses are flagged.
 */
describe('config: SimpleTuner\'s shipped dataloader configs (local mirror)', function () {
  before(function () {
    if (!mirrorAvailable()) {
      console.log(`      (skipped: no SimpleTuner mirror at ${DEFAULT_MIRROR}; set SIMPLETUNER_MIRROR to a clone of bghira/SimpleTuner)`);
      this.skip();
    }
  });

  it('accepts every config SimpleTuner accepts and flags the ones it refuses', async function () {
    this.timeout(120_000);
    const examples = collectExamples();
    assert.ok(examples.length >= 40, `found ${examples.length} example configs`);
    const failures: string[] = [];
    for (const ex of examples) {
      const r = await validateExample(ex, config);
      if (ex.expectRejected ? !r.errors.length : r.errors.length) failures.push(`${ex.source}: ${r.errors.map((e) => `${e.code}: ${e.message}`).join('; ') || 'no error on a config SimpleTuner refuses'}`);
    }
    assert.deepEqual(failures, []);
  });
});
