import assert from 'node:assert/strict';
import path from 'node:path';
import * as config from '../../../src/core/config';
import { buildPackage } from '../../../src/core/packaging';
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

  it('accepts (and packages) every config SimpleTuner accepts, and flags the ones it refuses', async function () {
    this.timeout(120_000);
    const examples = collectExamples();
    assert.ok(examples.length >= 40, `found ${examples.length} example configs`);
    const failures: string[] = [];
    for (const ex of examples) {
      const r = await validateExample(ex, config, (dataloaderConfigPath, root) => buildPackage({ dataloaderConfigPath, workspaceRoot: root, outDir: path.join(root, '.pkg'), cacheDir: path.join(root, '.pkg-cache') }));
      if (ex.expectRejected ? !r.errors.length : r.errors.length || r.packageError) {
        failures.push(`${ex.source}: ${[...r.errors.map((e) => `${e.code}: ${e.message}`), r.packageError ?? ''].filter(Boolean).join('; ') || 'no error on a config SimpleTuner refuses'}`);
      }
    }
    assert.deepEqual(failures, []);
  });
});
