import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import { formatOf, loadTrainingConfig, type TrainingConfigFormat } from './training';

export interface DiscoveredTrainingConfig {
  path: string;
  format: TrainingConfigFormat;
  /** `<env>` of `config/<env>/config.*`, undefined for `config/config.*`. */
  environment?: string;
  /** Absolute dataloader config named by data_backend_config. */
  dataloaderPath?: string;
}
export interface DiscoveredDataloader {
  path: string;
  /** Training configs that name this file. */
  referencedBy: string[];
}
export interface DiscoveredConfigs { trainingConfigs: DiscoveredTrainingConfig[]; dataloaderConfigs: DiscoveredDataloader[] }

const SKIP_DIRS = new Set(['node_modules', '.git', '.hg', '.svn', 'venv', '.venv', 'env', '__pycache__', 'dist', 'out', '.cache', '.vscode-test', 'output', 'checkpoints', 'wandb']);
const TRAINING_NAMES = new Set(['config.json', 'config.toml', 'config.env']);
const DATALOADER_NAME = /^multidatabackend.*\.json$/i;
/** A config.json outside a config/ folder is only SimpleTuner's if it names one of these options. */
const SIMPLETUNER_KEY = /"-{0,2}(data_backend_config|model_family|model_type|pretrained_model_name_or_path)"/;

export interface DiscoverOptions { maxDepth?: number; maxDirs?: number; signal?: AbortSignal }

/**
 * SimpleTuner training configs (`config/config.*`, `config/<env>/config.*`, or a config.* elsewhere that
 * looks like one) and dataloader configs (`multidatabackend*.json`, `config/dataloaders/<name>/...`, and
 * whatever a training config's data_backend_config names). Bounded: dataset folders can be huge.
 */
export async function discoverConfigs(workspaceRoot: string, opts: DiscoverOptions = {}): Promise<DiscoveredConfigs> {
  const maxDepth = opts.maxDepth ?? 6;
  let dirBudget = opts.maxDirs ?? 5000;
  const trainingPaths: string[] = [];
  const dataloaders = new Map<string, DiscoveredDataloader>();
  const root = path.resolve(workspaceRoot);

  const walk = async (dir: string, depth: number): Promise<void> => {
    if (opts.signal?.aborted || dirBudget-- <= 0) return;
    let entries: Dirent[];
    try { entries = await fs.readdir(dir, { withFileTypes: true }); } catch { return; }
    const subdirs: string[] = [];
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name) && !e.name.startsWith('.') && depth < maxDepth) subdirs.push(abs);
      } else if (e.isFile()) {
        if (DATALOADER_NAME.test(e.name)) dataloaders.set(abs, { path: abs, referencedBy: [] });
        else if (TRAINING_NAMES.has(e.name) && (await looksLikeTrainingConfig(abs, root))) trainingPaths.push(abs);
      }
    }
    // Folders with thousands of entries and no subfolders are datasets: nothing more to find below.
    for (const s of subdirs) await walk(s, depth + 1);
  };
  await walk(root, 0);

  const trainingConfigs: DiscoveredTrainingConfig[] = [];
  for (const p of trainingPaths.sort()) {
    const parts = path.relative(root, p).split(path.sep);
    const i = parts.lastIndexOf('config');
    const environment = i >= 0 && i === parts.length - 3 ? parts[i + 1] : undefined;
    const item: DiscoveredTrainingConfig = { path: p, format: formatOf(p)!, environment };
    try {
      const cfg = await loadTrainingConfig(p, root);
      if (cfg.dataloaderPath) {
        item.dataloaderPath = cfg.dataloaderPath;
        const d = dataloaders.get(cfg.dataloaderPath) ?? { path: cfg.dataloaderPath, referencedBy: [] };
        d.referencedBy.push(p);
        dataloaders.set(cfg.dataloaderPath, d);
      }
    } catch {
      // Unreadable configs are still listed; validation reports why.
    }
    trainingConfigs.push(item);
  }
  return { trainingConfigs, dataloaderConfigs: [...dataloaders.values()].sort((a, b) => a.path.localeCompare(b.path)) };
}

async function looksLikeTrainingConfig(file: string, root: string): Promise<boolean> {
  if (path.relative(root, file).split(path.sep).includes('config')) return true;
  if (file.endsWith('.env')) return false;
  try {
    const fh = await fs.open(file, 'r');
    try {
      const { buffer, bytesRead } = await fh.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
      return SIMPLETUNER_KEY.test(buffer.subarray(0, bytesRead).toString('utf8').replace(/^\s*(-{0,2}[a-z_]+)\s*=/gm, '"$1"'));
    } finally { await fh.close(); }
  } catch { return false; }
}

/** Is `file` a dataloader config by name or location (for editors deciding whether to attach features)? */
export function isDataloaderConfigPath(file: string): boolean {
  const base = path.basename(file);
  if (DATALOADER_NAME.test(base)) return true;
  const parts = file.split(/[\\/]/);
  return base.endsWith('.json') && parts.at(-3) === 'dataloaders' && parts.at(-4) === 'config';
}

/**
 * The options of a training config in the workspace that names this dataloader config (its global defaults,
 * e.g. --caption_strategy, --instance_prompt), so a dataloader validated on its own is judged as it will run.
 */
export async function trainingOptionsFor(dataloaderPath: string, workspaceRoot: string): Promise<Record<string, unknown> | undefined> {
  const abs = path.resolve(dataloaderPath);
  const found = await discoverConfigs(workspaceRoot, { maxDirs: 2000 });
  const training = found.dataloaderConfigs.find((d) => d.path === abs)?.referencedBy[0];
  if (!training) return undefined;
  try { return (await loadTrainingConfig(training, workspaceRoot)).values; } catch { return undefined; }
}
