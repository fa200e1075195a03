import { JobHistory } from '../core/jobs/history';
import { JobMonitor } from '../core/jobs/monitor';
import { DataLayout, dataLayout } from '../core/paths';
import { createDefaultRegistry } from '../providers/defaults';
import type { ProviderRegistry } from '../providers/registry';
import type { CliIO } from './io';
import { loadCliSettings, userPricing } from '../core/submit/settings';

export interface CliContext {
  layout: DataLayout;
  history: JobHistory;
  providers: ProviderRegistry;
  monitor(intervalMs?: number): JobMonitor;
}

/** The same core objects the extension builds, for one CLI invocation. */
export function cliContext(io: CliIO): CliContext {
  const layout = dataLayout(io.dataHome);
  const history = new JobHistory(layout.historyDir, (w) => io.stderr.write(`warning: ${w.message}\n`));
  const providers = createDefaultRegistry({ layout, env: io.env });
  return {
    layout,
    history,
    providers,
    monitor: (intervalMs = 1000) => new JobMonitor(history, providers, {
      dataHome: layout.home, intervalMs, log: (l) => io.stderr.write(`${l}\n`),
      // The same prices the extension uses (mirrored into <dataHome>/settings.json).
      pricing: async () => userPricing((await loadCliSettings({ dataHome: layout.home, env: io.env })).settings),
    }),
  };
}
