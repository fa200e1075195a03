import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { newJob } from '../../../src/core/jobs/factory';
import { Job, isTerminal } from '../../../src/core/jobs/schema';
import { dataLayout, DataLayout } from '../../../src/core/paths';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import { ReplicateProvider, ReplicateProviderDeps } from '../../../src/providers/replicate/provider';
import type { ProviderContext, SubmitRequest } from '../../../src/core/providers/types';
import { FakeReplicate } from '../../support/replicate-server/server';

export interface Harness {
  server: FakeReplicate;
  dir: string;
  layout: DataLayout;
  history: JobHistory;
  provider: ReplicateProvider;
  monitor: JobMonitor;
  packagePath: string;
  /** The package's identity (a manifest sha256 in real packages; here any stable id). */
  packageId: string;
  reports: string[];
  logs: string[];
  ctx: ProviderContext;
  close(): Promise<void>;
}

/** A fake Replicate, a real job history in a temp dir, the real provider and the lead's monitor. */
export async function startHarness(deps: Partial<ReplicateProviderDeps> = {}): Promise<Harness> {
  const server = new FakeReplicate();
  await server.start();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-replicate-'));
  const layout = dataLayout(dir);
  const history = new JobHistory(layout.historyDir);
  const token = server.token; // what the user configured; tests may rotate what the server accepts
  const provider = new ReplicateProvider({
    getToken: async () => token,
    getHfToken: async () => 'hf_secretvalue123456',
    baseUrl: server.base,
    transport: { backoffMs: 20, maxBackoffMs: 200, requestTimeoutMs: 5000 },
    lookupDelayMs: 50,
    cacheMs: 5,
    ...deps,
  });
  const registry = new ProviderRegistry();
  registry.register('replicate', () => provider);
  const logs: string[] = [];
  const reports: string[] = [];
  const monitor = new JobMonitor(history, registry, { dataHome: dir, intervalMs: 20, log: (l) => logs.push(l) });
  const packagePath = path.join(dir, 'package.zip');
  await writeZip(packagePath, {
    'multidatabackend.json': JSON.stringify(trainerOptions().dataloaderJson),
    'config/config.json': JSON.stringify(trainerOptions().configJson),
    'datasets/subjects/a_photo_of_tok.png': randomBytes(150 * 1024),
    'datasets/subjects/tok_at_the_beach.jpg': randomBytes(150 * 1024),
    'datasets/subjects/notes.md': 'not an image: never sent',
  });
  const packageId = createHash('sha256').update(await fs.readFile(packagePath)).digest('hex');
  const ctx: ProviderContext = { dataHome: dir, report: (m) => reports.push(m), log: (l) => logs.push(l) };
  return {
    server, dir, layout, history, provider, monitor, packagePath, packageId, reports, logs, ctx,
    async close() {
      monitor.dispose();
      await registry.dispose();
      await server.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Create the job in history, then submit it — what the lead's submission flow does. */
export async function submitJob(h: Harness, options: Record<string, unknown>, extra: Partial<SubmitRequest> = {}): Promise<Job> {
  const job = newJob(h.layout, { provider: 'replicate', name: 'test job' });
  await h.history.add(job);
  const r = await h.provider.submit(job, { packagePath: h.packagePath, packageId: h.packageId, options, ...extra }, h.ctx);
  return (await h.history.update(job.id, (j) => ({
    ...j, providerJobId: r.providerJobId, status: r.status, providerStatus: r.providerStatus, startedAt: r.startedAt ?? j.startedAt,
    metadata: { ...j.metadata, ...r.metadata },
  })))!;
}

/** Poll status/logs like the monitor until terminal and finalized. `each` sees every intermediate job. */
export async function trackToEnd(h: Harness, id: string, each?: (j: Job) => void | Promise<void>, maxMs = 20_000): Promise<Job> {
  const end = Date.now() + maxMs;
  while (Date.now() < end) {
    const job = (await h.history.get(id))!;
    const next = (await h.monitor.refresh(job)) ?? job;
    await each?.(next);
    if (isTerminal(next.status) && next.metadata.finalized === true) return next;
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error(`job ${id} did not finish within ${maxMs} ms`);
}

export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, maxMs = 10_000): Promise<T> {
  const end = Date.now() + maxMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error('condition not met in time');
}

/** Options as the pipeline passes them: the package's configs (paths point into the package). */
export const trainerOptions = (extra: Record<string, unknown> = {}) => ({
  mode: 'trainer',
  profile: 'l40s-x2',
  configJson: { '--model_family': 'flux', '--max_train_steps': 4, '--output_dir': 'output', '--resolution': 512 },
  dataloaderJson: [
    { id: 'subjects', type: 'local', instance_data_dir: 'datasets/subjects', caption_strategy: 'filename', crop: true, crop_style: 'center', cache_dir_vae: 'cache/vae' },
    { id: 'text-embeds', type: 'local', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/text' },
  ],
  ...extra,
});

/** A zip with these entries (deflated text, stored binaries), written with yazl like the packager. */
export async function writeZip(file: string, entries: Record<string, string | Buffer>): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yazl = require('yazl') as typeof import('yazl');
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) zip.addBuffer(Buffer.isBuffer(data) ? data : Buffer.from(data), name, { compress: !Buffer.isBuffer(data) });
  zip.end();
  const { createWriteStream } = await import('node:fs');
  await new Promise<void>((resolve, reject) => zip.outputStream.pipe(createWriteStream(file)).on('finish', () => resolve()).on('error', reject));
}
