// Loads and groups 10,000 jobs the way the tree does, against a named baseline measured in the same
// run: a bare JSON.parse of the same file (what any reader must at least pay).
// Run: npm run bench:history   (node --import tsx benchmarks/history-load.ts [count])
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { JobHistory } from '../src/core/jobs/history';
import { groupJobs } from '../src/core/jobs/grouping';
import { newJob } from '../src/core/jobs/factory';
import { dataLayout } from '../src/core/paths';
import type { Job, JobStatus } from '../src/core/jobs/schema';

const count = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(path.join(os.tmpdir(), 'ct-bench-history-'));
const statuses: JobStatus[] = ['running', 'queued', 'succeeded', 'succeeded', 'failed', 'cancelled'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const layout = dataLayout(dir);
  const history = new JobHistory(layout.historyDir);
  const jobs: Job[] = [];
  const t0 = Date.now() - count * 60_000;
  for (let i = 0; i < count; i++) {
    const j = newJob(layout, { provider: (['local', 'replicate', 'ssh', 'slurm'] as const)[i % 4]!, name: `job ${i}`, trainingConfig: '/ws/config/config.json' }, new Date(t0 + i * 60_000));
    jobs.push({ ...j, status: statuses[i % statuses.length]!, progress: { step: i % 1000, totalSteps: 1000, loss: 0.1 } });
  }
  await history.transact(() => jobs);
  const bytes = readFileSync(history.file).length;

  const runs = 7;
  const parse: number[] = [];
  const load: number[] = [];
  const group: number[] = [];
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    JSON.parse(readFileSync(history.file, 'utf8'));
    parse.push(performance.now() - t);

    const fresh = new JobHistory(layout.historyDir); // no cache: a cold load as after a reload
    t = performance.now();
    const list = await fresh.list();
    load.push(performance.now() - t);

    t = performance.now();
    const groups = groupJobs(list);
    group.push(performance.now() - t);
    if (groups.reduce((s, g) => s + g.jobs.length, 0) !== count) throw new Error('grouping lost jobs');
  }
  const cached = new JobHistory(layout.historyDir);
  await cached.list();
  let t = performance.now();
  await cached.list();
  const cachedMs = performance.now() - t;

  const single = new JobHistory(layout.historyDir);
  t = performance.now();
  await single.update(jobs[0]!.id, (j) => ({ ...j, progress: { ...j.progress, step: 999 } }));
  const updateMs = performance.now() - t;
  t = performance.now();
  await single.update(jobs[1]!.id, (j) => ({ ...j, progress: { ...j.progress, step: 998 } }));
  const update2Ms = performance.now() - t;

  console.log(`history: ${count} jobs, ${(bytes / 1e6).toFixed(1)} MB (median of ${runs} runs)`);
  console.log(`  baseline JSON.parse(file)          ${median(parse).toFixed(1)} ms`);
  console.log(`  JobHistory.list() cold (validated)  ${median(load).toFixed(1)} ms  (${(median(load) / median(parse)).toFixed(2)}x baseline)`);
  console.log(`  groupJobs()                         ${median(group).toFixed(1)} ms`);
  console.log(`  load + group                        ${(median(load) + median(group)).toFixed(1)} ms`);
  console.log(`  JobHistory.list() cached            ${cachedMs.toFixed(2)} ms`);
  console.log(`  one locked update, cold (parse+write) ${updateMs.toFixed(1)} ms`);
  console.log(`  next update, same writer (write)    ${update2Ms.toFixed(1)} ms`);
}

main().finally(() => rmSync(dir, { recursive: true, force: true }));
