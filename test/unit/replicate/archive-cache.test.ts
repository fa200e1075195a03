import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pruneRouteArchives, ROUTE_ARCHIVES_KEPT } from '../../../src/providers/replicate/archive';
import { Harness, startHarness, trainerOptions } from './harness';

const HOUR = 3600_000;
async function file(p: string, ageMs: number): Promise<void> {
  await fs.writeFile(p, 'x');
  const t = new Date(Date.now() - ageMs);
  await fs.utimes(p, t, t);
}
const list = async (dir: string) => (await fs.readdir(dir)).sort();

describe('replicate route archives do not accumulate in cache/replicate-archives', function () {
  this.timeout(30_000);

  it('keeps the N most recent, anything younger than an hour and the current one; old .tmp leftovers go', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-archives-'));
    try {
      for (let i = 1; i <= 6; i++) await file(path.join(dir, `old${i}.zip`), (i + 1) * HOUR); // old1 newest … old6 oldest
      await file(path.join(dir, 'young.zip'), 60_000);
      await file(path.join(dir, 'x.zip.1.2.tmp'), 3 * HOUR);
      await file(path.join(dir, 'y.zip.3.4.tmp'), 60_000);
      await fs.writeFile(path.join(dir, 'notes.txt'), 'not ours');
      const removed = await pruneRouteArchives(dir, path.join(dir, 'old6.zip'), { keep: 3 });
      assert.equal(removed.length, 4);
      // The 3 most recent are young, old1, old2; old6 is the one being used; the fresh .tmp may be a build in progress.
      assert.deepEqual(await list(dir), ['notes.txt', 'old1.zip', 'old2.zip', 'old6.zip', 'y.zip.3.4.tmp', 'young.zip']);
      assert.deepEqual(await pruneRouteArchives(path.join(dir, 'missing')), [], 'no folder yet: nothing to do');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  describe('through planData (the real archive builder)', () => {
    let h: Harness;
    beforeEach(async () => { h = await startHarness(); });
    afterEach(async () => { await h.close(); });

    it(`after many submissions only the ${ROUTE_ARCHIVES_KEPT} most recent archives remain; the one being submitted is always there`, async () => {
      const dir = path.join(h.dir, 'replicate-archives');
      let last = '';
      for (let i = 0; i < 6; i++) {
        // A different package id each time: a different archive (content-addressed by package and names).
        const plan = await h.provider.planData({ packagePath: h.packagePath, packageId: `pkg-${i}`, options: trainerOptions() }, { cacheDir: h.dir });
        assert.equal(plan?.summary.route, 'archive');
        last = plan!.upload!.path;
        assert.equal(path.dirname(last), dir);
        await fs.access(last);
        // Pretend it was built hours ago, so only the count protects it.
        const t = new Date(Date.now() - (10 - i) * HOUR);
        await fs.utimes(last, t, t);
      }
      const zips = (await list(dir)).filter((n) => n.endsWith('.zip'));
      assert.equal(zips.length, ROUTE_ARCHIVES_KEPT);
      assert.ok(zips.includes(path.basename(last)));

      // Reusing an old archive makes it recent again: it survives the next prunes.
      const again = await h.provider.planData({ packagePath: h.packagePath, packageId: 'pkg-3', options: trainerOptions() }, { cacheDir: h.dir });
      assert.match(again!.summary.detail[0]!, /already built/);
      await h.provider.planData({ packagePath: h.packagePath, packageId: 'pkg-new', options: trainerOptions() }, { cacheDir: h.dir });
      assert.ok((await list(dir)).includes(path.basename(again!.upload!.path)));
    });
  });
});
