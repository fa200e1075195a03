import { existsSync, mkdirSync, mkdtempSync, promises as fs, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConsentMemory } from '../../../src/core/consent/memory';
import { SpendingLimitsSchema } from '../../../src/core/cost/limits';
import { JobHistory } from '../../../src/core/jobs/history';
import type { Job } from '../../../src/core/jobs/schema';
import { dataLayout, type DataLayout } from '../../../src/core/paths';
import { simpleConfigReader } from '../../../src/core/submit/config-reader';
import type { SubmitDeps } from '../../../src/core/submit/pipeline';
import type { PackageInfo, Packager } from '../../../src/core/submit/steps';
import { LocalProvider } from '../../../src/providers/local/provider';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import type { ProviderContext, SubmitRequest, SubmitResult, TrainingProvider } from '../../../src/core/providers/types';

/** A workspace with a training config (100 steps) that points at a dataloader with one local dataset. */
export function makeWorkspace(root: string): { workspace: string; config: string; dataloader: string } {
  const workspace = path.join(root, 'ws');
  mkdirSync(path.join(workspace, 'config'), { recursive: true });
  mkdirSync(path.join(workspace, 'datasets', 'cats'), { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(path.join(workspace, 'datasets', 'cats', `${i}.txt`), `a cat ${i}`);
  // A secret beside the images: packaging must leave it out, and consent must say so.
  writeFileSync(path.join(workspace, 'datasets', 'cats', '.env'), 'API_KEY=do-not-upload');
  const dataloader = path.join(workspace, 'config', 'multidatabackend.json');
  writeFileSync(dataloader, JSON.stringify([
    { id: 'cats', type: 'local', instance_data_dir: 'datasets/cats', caption_strategy: 'textfile' },
    { id: 'text-embeds', type: 'local', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/text' },
  ]));
  const config = path.join(workspace, 'config', 'config.json');
  writeFileSync(config, JSON.stringify({ '--max_train_steps': 100, '--data_backend_config': 'config/multidatabackend.json', '--output_dir': 'out' }));
  return { workspace, config, dataloader };
}

/** Writes a real file into the cache like the packaging module would, and honours the signal while "working". */
export class FilePackager implements Packager {
  built: string[] = [];
  constructor(private readonly opts: { waitForAbort?: boolean; fail?: string; reused?: boolean } = {}) {}
  async build(req: Parameters<Packager['build']>[0]): Promise<PackageInfo> {
    await fs.mkdir(req.cacheDir, { recursive: true });
    const zipPath = path.join(req.cacheDir, `pkg-${this.built.length}.zip`);
    await fs.writeFile(zipPath, 'PK fake package');
    this.built.push(zipPath);
    req.onProgress?.('packaging cats', 0.5);
    try {
      if (this.opts.fail) throw new Error(this.opts.fail);
      if (this.opts.waitForAbort) await waitForAbort(req.signal);
    } catch (e) {
      await fs.rm(zipPath, { force: true }); // the Packager contract: a failed build leaves nothing
      throw e;
    }
    return {
      zipPath, sha256: 'ab'.repeat(32), reused: this.opts.reused ?? false,
      datasets: [{ id: 'cats', root: path.dirname(req.dataloaderConfigPath), files: 3, bytes: 27 }],
      excluded: [{ dataset: 'cats', relPath: '.env', reason: 'sensitive' }], totalFiles: 3, totalBytes: 27, zipBytes: 15,
    };
  }
}

/** A provider that uploads data, leaves real traces (log line, job folder) before accepting, like a real one would. */
export class UploadingTestProvider implements TrainingProvider {
  readonly id = 'replicate' as const;
  readonly displayName = 'Test cloud';
  readonly capabilities = { costTracking: true, liveLogs: true, cancel: true, resume: false, webhooks: false, listRemote: false, uploadsData: true };
  submitted: { job: Job; request: SubmitRequest }[] = [];
  constructor(private readonly layout: DataLayout, public behaviour: { waitForAbort?: boolean; fail?: string; ignoreAbort?: boolean } = {}) {}
  async validateCredentials() { return { ok: true, message: 'ok' }; }
  async listHardware() { return [{ id: 'l40s', label: 'L40S' }]; }
  async submit(job: Job, request: SubmitRequest, ctx: ProviderContext): Promise<SubmitResult> {
    await fs.mkdir(path.dirname(job.logPath!), { recursive: true });
    await fs.appendFile(job.logPath!, 'uploading package\n');
    await fs.mkdir(path.join(this.layout.jobsDir, job.id), { recursive: true });
    ctx.report?.('uploading', 0.3);
    if (this.behaviour.fail) throw new Error(this.behaviour.fail);
    if (this.behaviour.waitForAbort) await waitForAbort(ctx.signal);
    this.submitted.push({ job, request });
    return { providerJobId: `remote-${job.id}`, status: 'queued', providerStatus: 'starting', metadata: { uploadId: 'u1' } };
  }
  async status() { return { status: 'queued' as const }; }
  async fetchLogs() { return null; }
  async cancel() {}
}

export function waitForAbort(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return;
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export interface Harness {
  root: string;
  layout: DataLayout;
  history: JobHistory;
  providers: ProviderRegistry;
  cloud: UploadingTestProvider;
  packager: FilePackager;
  ws: ReturnType<typeof makeWorkspace>;
  deps(over?: Partial<SubmitDeps>): SubmitDeps;
  /** Every file under the data home except the history's own files. */
  leftovers(): string[];
  dispose(): Promise<void>;
}

export function harness(): Harness {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ct-submit-'));
  const layout = dataLayout(path.join(root, 'home'));
  const history = new JobHistory(layout.historyDir);
  const cloud = new UploadingTestProvider(layout);
  const providers = new ProviderRegistry();
  providers.register('replicate', () => cloud);
  providers.register('local', () => new LocalProvider({ jobsDir: layout.jobsDir, killGraceMs: 500 }));
  const packager = new FilePackager();
  const ws = makeWorkspace(root);
  const h: Harness = {
    root, layout, history, providers, cloud, packager, ws,
    deps: (over = {}) => ({
      history, layout, providers, config: simpleConfigReader, packager: h.packager,
      consent: { policy: 'ask', memory: new ConsentMemory(layout.home), ask: async () => 'once' },
      limits: SpendingLimitsSchema.parse({}),
      ...over,
    }),
    // Shared files that legitimately outlive one submission: history, consent memory, the CLI settings
    // mirror and the packager's file-hash cache.
    leftovers: () => listFiles(layout.home).filter((f) => !/^(jobs\.json(\.lock)?|consent\.json.*|settings\.json|cache\/hash-cache[^/]*)$/.test(f)),
    dispose: async () => {
      await providers.dispose();
      // A local job a test left running (`--command true`) may still be writing its exit file: retry
      // while its folder fills under the removal (ENOTEMPTY), as a loaded CI box showed.
      rmSync(root, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
    },
  };
  return h;
}

function listFiles(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) {
      const inner = listFiles(path.join(dir, e.name), rel);
      // Empty shared folders (logs/, jobs/, cache/) are not leftovers of one job.
      out.push(...inner);
    } else out.push(rel);
  }
  return out;
}
