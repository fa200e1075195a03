import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { countFolder, datasetLocalStats, parseDataloaderConfig, StatsCache } from '../../../src/core/config';

describe('config: dataset counts for CodeLens', function () {
  this.timeout(120_000);
  let root: string;
  const N = 100_000;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-stats-'));
    const dir = path.join(root, 'datasets/big');
    for (let d = 0; d < 20; d++) await fs.mkdir(path.join(dir, `part${d}`), { recursive: true });
    const names = Array.from({ length: N }, (_, i) => path.join(dir, `part${i % 20}`, `img_${i}.jpg`));
    for (let i = 0; i < names.length; i += 500) await Promise.all(names.slice(i, i + 500).map((n) => fs.writeFile(n, 'abc')));
    await fs.writeFile(path.join(dir, '.env'), 'SECRET=1');
    await fs.mkdir(path.join(dir, '.git'));
    await fs.writeFile(path.join(dir, '.git/HEAD'), 'ref');
  });
  after(async () => { await fs.rm(root, { recursive: true, force: true }); });

  it(`counts ${N.toLocaleString()} files without blocking the event loop, with the packaging exclusions`, async () => {
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const s = await countFolder(path.join(root, 'datasets/big'));
    h.disable();
    assert.equal(s.files, N);
    assert.equal(s.bytes, N * 3);
    assert.equal(s.excluded, 2);
    // Batches of 256 stats between yields: the longest stall stays far below a frame of UI work.
    assert.ok(h.max / 1e6 < 250, `event loop blocked for ${(h.max / 1e6).toFixed(0)} ms`);
  });

  it('can be cancelled, and the cache answers again without recounting until invalidated', async () => {
    const ac = new AbortController();
    const p = countFolder(path.join(root, 'datasets/big'), { signal: ac.signal });
    setImmediate(() => ac.abort());
    await assert.rejects(p, { name: 'AbortError' });

    const cache = new StatsCache();
    const dir = path.join(root, 'datasets/big');
    const first = cache.get(dir);
    assert.equal(cache.get(dir), first, 'concurrent callers share one count');
    const a = await first;
    const t0 = Date.now();
    const b = await cache.get(dir);
    assert.equal(b, a);
    assert.ok(Date.now() - t0 < 20);
    assert.equal(cache.invalidate(path.join(root, 'unrelated/file.txt')), false);
    assert.equal(cache.invalidate(path.join(dir, 'part3', 'new.jpg')), true);
    assert.equal(cache.peek(dir), undefined);
  });

  it('reports per-dataset stats for a dataloader config, marking missing and non-local datasets', async () => {
    const file = path.join(root, 'config/multidatabackend.json');
    const text = JSON.stringify([
      { id: 'big', type: 'local', instance_data_dir: 'datasets/big' },
      { id: 'gone', type: 'local', instance_data_dir: 'datasets/gone' },
      { id: 's3', type: 'aws', aws_bucket_name: 'b' },
    ]);
    const stats = await datasetLocalStats(parseDataloaderConfig(text, file), { cache: new StatsCache() });
    assert.deepEqual(stats.map((s) => [s.id, s.files, !!s.missing, s.local]), [['big', N, false, true], ['gone', 0, true, true], ['s3', 0, false, false]]);
  });
});
