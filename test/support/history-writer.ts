// Child process used by the history crash/concurrency tests: adds (and updates) jobs in a loop and
// prints "committed <id>" only after each write has resolved, so the parent knows what must survive.
import { JobHistory } from '../../src/core/jobs/history';
import { newJob } from '../../src/core/jobs/factory';
import { dataLayout } from '../../src/core/paths';

async function main(): Promise<void> {
  const [dir, countArg, tag] = process.argv.slice(2);
  const count = Number(countArg ?? '100');
  const layout = dataLayout(dir!);
  const history = new JobHistory(layout.historyDir);
  for (let i = 0; i < count; i++) {
    const job = newJob(layout, { provider: 'local', name: `${tag}-${i}` });
    await history.add(job);
    process.stdout.write(`committed ${job.id}\n`);
    await history.update(job.id, (j) => ({ ...j, status: 'running', progress: { step: i, totalSteps: count } }));
    process.stdout.write(`updated ${job.id}\n`);
  }
}
main().catch((e) => { process.stderr.write(String(e?.stack ?? e)); process.exit(1); });
