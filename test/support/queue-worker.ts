// Child process for the queue tests: one "window or CLI" with its own job monitor and queue over a
// shared history folder, using the real local provider. Polls until every job in the history has
// ended and been finalised (or a deadline), then prints the ids this process started from the queue.
import { JobHistory } from '../../src/core/jobs/history';
import { JobMonitor } from '../../src/core/jobs/monitor';
import { isTerminal } from '../../src/core/jobs/schema';
import { dataLayout } from '../../src/core/paths';
import { ProviderRegistry } from '../../src/core/providers/registry';
import { JobQueue } from '../../src/core/queue/queue';
import { LocalProvider } from '../../src/providers/local/provider';

async function main(): Promise<void> {
  const [home, capacityArg] = process.argv.slice(2);
  const layout = dataLayout(home!);
  const history = new JobHistory(layout.historyDir);
  const providers = new ProviderRegistry();
  providers.register('local', () => new LocalProvider({ jobsDir: layout.jobsDir, killGraceMs: 500, goneGraceMs: 100 }));
  const started: string[] = [];
  const queue = new JobQueue(history, providers, { dataHome: layout.home, capacity: async () => Number(capacityArg ?? 1) });
  const tick = queue.tick.bind(queue);
  // Record which jobs this process started (the test checks that each started exactly once overall).
  queue.tick = async () => { const s = await tick(); started.push(...s.map((j) => j.id)); return s; };
  const monitor = new JobMonitor(history, providers, { dataHome: layout.home, intervalMs: 25, queue, gpuSampleIntervalMs: 0 });
  monitor.poke();
  const deadline = Date.now() + 40_000;
  while (Date.now() < deadline) {
    const jobs = await history.list();
    if (jobs.length && jobs.every((j) => isTerminal(j.status) && j.metadata.finalized === true)) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  monitor.dispose();
  await providers.dispose();
  process.stdout.write(`${JSON.stringify({ started })}\n`);
}
if (require.main === module) main().catch((e) => { process.stderr.write(String(e?.stack ?? e)); process.exit(1); });
