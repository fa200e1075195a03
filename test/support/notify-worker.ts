// Child process for the notification tests: one "window or CLI" with its own job monitor and
// notifier over a shared history folder. Jobs carry `metadata.fake` telling the stand-in provider
// how they end. Exits when every job is finalised and its webhook events are delivered or given up.
import { JobHistory } from '../../src/core/jobs/history';
import { JobMonitor } from '../../src/core/jobs/monitor';
import type { Job } from '../../src/core/jobs/schema';
import { JobNotifier } from '../../src/core/notify/notifier';
import { ProviderRegistry } from '../../src/core/providers/registry';
import type { StatusUpdate, TrainingProvider } from '../../src/core/providers/types';

interface Fake { status: StatusUpdate['status']; error?: string; deliveryError?: string; outputs?: Job['outputs'] }

export function fakeProvider(): TrainingProvider {
  const fake = (job: Job) => job.metadata.fake as Fake;
  return {
    id: 'local', displayName: 'stand-in', capabilities: {} as TrainingProvider['capabilities'],
    validateCredentials: async () => ({ ok: true, message: '' }), listHardware: async () => [],
    submit: async () => { throw new Error('not used'); }, fetchLogs: async () => null, cancel: async () => undefined,
    status: async (job) => ({ status: fake(job).status, error: fake(job).error }),
    finalize: async (job) => ({
      outputs: fake(job).outputs ?? [],
      ...(fake(job).deliveryError ? { statusDetail: 'delivery failed', metadata: { deliveryError: fake(job).deliveryError } } : {}),
    }),
  };
}

async function main(): Promise<void> {
  const [dir, url, format] = process.argv.slice(2);
  const history = new JobHistory(dir!);
  const providers = new ProviderRegistry();
  providers.register('local', () => fakeProvider());
  const notifier = new JobNotifier(history, {
    webhook: () => ({ url: url!, format: (format ?? 'json') as 'json' }),
    retry: { attempts: 5, baseDelayMs: 150, timeoutMs: 5000, leaseMs: 10_000 },
    log: (l) => process.stderr.write(`${l}\n`),
  });
  const monitor = new JobMonitor(history, providers, { dataHome: dir!, intervalMs: 50, notifier });
  monitor.poke();
  const deadline = Date.now() + 40_000;
  while ((await history.list()).some((j) => j.metadata.finalized !== true) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await notifier.flush(Math.max(0, deadline - Date.now()));
  monitor.dispose();
  notifier.dispose();
  process.stdout.write('done\n');
}
if (require.main === module) main().catch((e) => { process.stderr.write(String(e?.stack ?? e)); process.exit(1); });
