import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { JobHistory, parseHistory } from '../../../src/core/jobs/history';
import { newJob } from '../../../src/core/jobs/factory';
import { dataLayout } from '../../../src/core/paths';
import { tempDir } from '../../support/tmp';

const ROOT = path.resolve(__dirname, '../../..');
const WRITER = path.join(ROOT, 'test/support/history-writer.ts');

function startWriter(dir: string, count: number, tag: string) {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', WRITER, dir, String(count), tag], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const committed = new Set<string>();
  let buf = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const m = /^committed (\S+)$/.exec(line);
      if (m) committed.add(m[1]!);
    }
  });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, committed, exited, stderr: () => stderr };
}

describe('job history', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => { t = tempDir(); });
  afterEach(() => t.cleanup());

  it('adds, updates, keeps terminal states terminal, and removes', async () => {
    const layout = dataLayout(t.dir);
    const h = new JobHistory(layout.historyDir);
    const job = await h.add(newJob(layout, { provider: 'local', name: 'a' }));
    await h.update(job.id, (j) => ({ ...j, status: 'cancelled' }));
    const late = await h.update(job.id, (j) => ({ ...j, status: 'running' }));
    assert.equal(late?.status, 'cancelled', 'a late poll must not resurrect a cancelled job');
    assert.ok(late?.finishedAt, 'terminal jobs get a finish time');
    await assert.rejects(h.add(job), /already exists/);
    assert.equal(await h.remove([job.id]), 1);
    assert.deepEqual(await h.list(), []);
  });

  it('survives SIGKILL in the middle of a stream of writes, many times, without losing a committed job', async function () {
    // Bounded, but loose: on a loaded 2-core machine a writer's start (tsx compiling it) alone took
    // several seconds, and a 10 s window per round failed there without anything being wrong.
    this.timeout(600_000);
    const all = new Set<string>();
    for (let round = 0; round < 12; round++) {
      const w = startWriter(t.dir, 10_000, `r${round}`);
      // Let it commit a few jobs, then kill it at an arbitrary moment.
      const deadline = Date.now() + 45_000;
      const want = 3 + (round % 5) * 4;
      while (w.committed.size < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 15)));
      w.child.kill('SIGKILL');
      await w.exited;
      assert.ok(w.committed.size >= want, `writer made progress in round ${round} (${w.stderr()})`);
      for (const id of w.committed) all.add(id);
      const text = await fs.readFile(path.join(t.dir, 'jobs.json'), 'utf8');
      const parsed = parseHistory(text);
      assert.equal(parsed.corrupt, undefined, `file valid after kill in round ${round}`);
      const ids = new Set(parsed.jobs.map((j) => j.id));
      for (const id of all) assert.ok(ids.has(id), `committed job ${id} survived round ${round}`);
    }
    // No temp files are left visible as jobs, and the stale lock of the killed writers was broken.
    const h = new JobHistory(t.dir);
    const extra = newJob(dataLayout(t.dir), { provider: 'local' });
    await h.add(extra);
    assert.equal((await h.list()).length >= all.size + 1, true);
  });

  it('loses nothing with two processes writing at once', async function () {
    this.timeout(120_000);
    const a = startWriter(t.dir, 60, 'a');
    const b = startWriter(t.dir, 60, 'b');
    const [ca, cb] = await Promise.all([a.exited, b.exited]);
    assert.equal(ca, 0, a.stderr());
    assert.equal(cb, 0, b.stderr());
    const jobs = await new JobHistory(t.dir).list();
    assert.equal(jobs.length, 120);
    assert.equal(new Set(jobs.map((j) => j.id)).size, 120);
    assert.ok(jobs.every((j) => j.status === 'running'), 'every update landed too');
    assert.deepEqual(readdirSync(t.dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock')), []);
  });

  it('moves a corrupt file aside, keeps every readable job and warns', async () => {
    const layout = dataLayout(t.dir);
    const h = new JobHistory(layout.historyDir);
    const jobs = [];
    for (let i = 0; i < 5; i++) jobs.push(await h.add(newJob(layout, { provider: 'local', name: `j${i}` })));
    const text = await fs.readFile(h.file, 'utf8');
    // Cut the file in the middle of the last job line and add garbage, as a torn copy would.
    const cut = text.slice(0, text.lastIndexOf('{"id"') + 40) + '\u0000\u0000garbage';
    await fs.writeFile(h.file, cut);
    const warnings: string[] = [];
    const h2 = new JobHistory(layout.historyDir, (w) => warnings.push(w.message));
    const kept = await h2.list();
    assert.equal(kept.length, 4, 'the four intact jobs are kept');
    assert.ok(warnings.some((w) => /damaged/.test(w)), 'a warning says the file was damaged');
    const aside = readdirSync(t.dir).filter((f) => f.startsWith('jobs.json.corrupt-'));
    assert.equal(aside.length, 1, 'the damaged original is kept aside');
    assert.equal(await fs.readFile(path.join(t.dir, aside[0]!), 'utf8'), cut);
    // And the history is writable again.
    await h2.add(newJob(layout, { provider: 'local', name: 'after' }));
    assert.equal((await new JobHistory(layout.historyDir).list()).length, 5);
  });

  it('drops a single invalid job but keeps the others', () => {
    const layout = dataLayout('/tmp/x');
    const good = newJob(layout, { provider: 'local' });
    const r = parseHistory(JSON.stringify({ version: 1, jobs: [good, { id: 'bad', status: 'exploded' }] }));
    assert.equal(r.corrupt, undefined);
    assert.deepEqual(r.jobs.map((j) => j.id), [good.id]);
    assert.match(r.warnings[0]!.message, /bad/);
  });

  it("sees another writer's change that keeps inode, size and mtime (a reused inode, a fixed-length field, one clock tick)", async () => {
    // Two processes' claims differ in one ISO time: same size. ext4 gives a freed inode to the next new
    // file and stamps mtime at tick granularity, so two writes can share all three; forced here in place.
    const layout = dataLayout(t.dir);
    const a = new JobHistory(layout.historyDir);
    const job = await a.add({ ...newJob(layout, { provider: 'local', name: 'claim' }), metadata: { claimAt: '2026-01-01T00:00:00.000Z' } });
    const tick = new Date('2026-01-01T00:00:00Z');
    await fs.utimes(a.file, tick, tick);
    assert.equal((await a.get(job.id))?.metadata.claimAt, '2026-01-01T00:00:00.000Z');
    const before = await fs.stat(a.file, { bigint: true });
    const other = (await fs.readFile(a.file, 'utf8')).replace('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:09.000Z');
    await fs.writeFile(a.file, other); // in place: the same inode
    await fs.utimes(a.file, tick, tick);
    const after = await fs.stat(a.file, { bigint: true });
    assert.deepEqual([after.ino, after.size, after.mtimeNs], [before.ino, before.size, before.mtimeNs], 'the test forces identical metadata');
    assert.equal((await a.get(job.id))?.metadata.claimAt, '2026-01-01T00:00:09.000Z', 'a lock-free read sees the new claim');
    await fs.writeFile(a.file, other.replace('00:00:09', '00:00:07'));
    await fs.utimes(a.file, tick, tick);
    let seen: unknown;
    await a.update(job.id, (j) => { seen = j.metadata.claimAt; return undefined; });
    assert.equal(seen, '2026-01-01T00:00:07.000Z', 'a claim under the lock compares against what is on disk');
  });

  it('refuses a file of a newer version instead of misreading or downgrading it', async () => {
    assert.throws(() => parseHistory(JSON.stringify({ version: 99, jobs: [] })), /newer version/);
    const h = new JobHistory(t.dir);
    await fs.writeFile(h.file, JSON.stringify({ version: 99, jobs: [] }));
    await assert.rejects(h.add(newJob(dataLayout(t.dir), { provider: 'local' })), /newer version/);
    assert.equal(await fs.readFile(h.file, 'utf8'), JSON.stringify({ version: 99, jobs: [] }), 'left untouched');
  });
});
