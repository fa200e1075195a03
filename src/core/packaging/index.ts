import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { checkDatasetPaths } from '../config/check-paths';
import { parseDataloaderConfig } from '../config/dataloader';
import { CREDENTIAL_KEY } from '../config/dataloader-schema';
import { referencesEnv } from '../config/template-vars';
import { loadTrainingConfig, type TrainingConfig } from '../config/training';
import { resolveConfigPath } from '../config/paths';
import { dataFolderOf } from '../config/stats';
import type { PathRef } from '../config/dataloader';
import { writeFileAtomic } from '../fs/atomic';
import { throwIfAborted } from './abort';
import { HashCache } from './hash-cache';
import { PackWorker } from './pack-worker';
import {
  PACKAGE_DATALOADER, PACKAGE_MANIFEST, PACKAGE_TRAINING_CONFIG, PackageResultSchema, PackagingError,
  type Manifest, type PackageExclusion, type PackageProgress, type PackageResult, type PackagedDataset,
} from './result';
import { rewriteDataloader, safeSegment, type DatasetPlacement } from './rewrite';
import { scanDataset } from './scan';
import { verifyZip, type VerifyMode } from './verify';
import { writeZip, type ZipBuffer, type ZipFileInput } from './zip-writer';

export * from './result';
export { scanDataset } from './scan';
export { HashCache, sha256File } from './hash-cache';
import { formatBytes } from '../format';
export { formatBytes };
export { packageSummary } from './summary';


export interface BuildPackageOptions {
  dataloaderConfigPath: string;
  trainingConfigPath?: string;
  /** Content-addressed packages land here as `<sha256>.zip` (+ `<sha256>.json` summary). */
  outDir: string;
  /** Holds the hash cache. */
  cacheDir: string;
  extraExcludes?: string[];
  signal?: AbortSignal;
  onProgress?: (p: PackageProgress) => void;
  /** Folder relative paths in the configs are resolved from (default: the folder holding `config/`). */
  workspaceRoot?: string;
  /** Where the trainer will extract the package; paths in the rewritten config start here ('' = relative). */
  packageRoot?: string;
  verify?: VerifyMode;
}

interface PlannedFile extends ZipFileInput { dataset: string }

/**
 * Build (or find) the package for a dataloader config: every enabled `type: "local"` dataset in one zip,
 * secrets left out, the config rewritten to point into the package, a manifest of every file with its
 * sha256, verified by reading it back. Unchanged inputs give the same identity, recognised from the
 * hash cache without reading file contents, and the existing zip is returned instead of a new one.
 */
export async function buildPackage(opts: BuildPackageOptions): Promise<PackageResult> {
  const started = Date.now();
  // The packaging worker (listing folders for the scan, then reading and hashing) starts while the configs load.
  const worker = new PackWorker();
  try {
    return await build(opts, started, worker);
  } finally {
    await worker.close();
  }
}

async function build(opts: BuildPackageOptions, started: number, worker: PackWorker): Promise<PackageResult> {
  const report = throttled(opts.onProgress);
  const dataloaderPath = path.resolve(opts.dataloaderConfigPath);
  report({ stage: 'scanning', message: 'Checking configs…' });
  // Read (and parse) the hash cache while the scan waits on the disk.
  const cacheOpened = HashCache.open(opts.cacheDir);

  const training = opts.trainingConfigPath ? await loadTrainingConfig(opts.trainingConfigPath, opts.workspaceRoot) : undefined;
  if (training?.diagnostics.some((d) => d.severity === 'error')) {
    throw new PackagingError(`${training.path}: ${training.diagnostics[0]!.message}`, training.diagnostics.map((d) => ({ file: training.path, ...d })));
  }
  const text = await fs.readFile(dataloaderPath, 'utf8');
  const parsed = parseDataloaderConfig(text, dataloaderPath, { training: training?.values });
  const problems = [...parsed.diagnostics, ...(await checkDatasetPaths(parsed, opts.workspaceRoot))].filter((d) => d.severity === 'error');
  if (problems.length) {
    throw new PackagingError(`${path.basename(dataloaderPath)} has ${problems.length} problem${problems.length > 1 ? 's' : ''} to fix before packaging; first: ${problems[0]!.message}`,
      problems.map((d) => ({ file: dataloaderPath, ...d })));
  }

  // Plan: which folders and files go where in the zip.
  const datasets: PackagedDataset[] = [];
  const excluded: PackageExclusion[] = [];
  const placements: DatasetPlacement[] = [];
  const files: PlannedFile[] = [];
  const prefixByRoot = new Map<string, string>();
  const usedPrefixes = new Set<string>();
  const uniquePrefix = (base: string) => {
    let p = base, n = 2;
    while (usedPrefixes.has(p)) p = `${base}-${n++}`;
    usedPrefixes.add(p);
    return p;
  };
  for (const ds of parsed.datasets) {
    throwIfAborted(opts.signal);
    if (ds.disabled || (ds.type !== 'local' && ds.type !== 'csv')) continue;
    const id = ds.id ?? `dataset-${ds.index + 1}`;
    const place: DatasetPlacement = { index: ds.index, id, files: {} };
    const dirRef = ds.type === 'local' ? dataFolderOf(ds) : undefined;
    let root: string | undefined;
    let summary: PackagedDataset | undefined;
    if (dirRef) {
      if (!dirRef.resolvable) throw unresolvable(dataloaderPath, id, dirRef);
      root = await resolveConfigPath(dirRef.expanded, dataloaderPath, opts.workspaceRoot);
      const shared = prefixByRoot.get(root);
      if (shared) place.archivePrefix = shared; // Two datasets over one folder share its files.
      else {
        report({ stage: 'scanning', message: `Scanning ${id}…` });
        const scan = await scanDataset(root, { extraExcludes: opts.extraExcludes, signal: opts.signal, listDirs: (dirs, each) => worker.listDirs(dirs, each) });
        for (const e of scan.excluded) excluded.push({ dataset: id, ...e });
        if (!scan.files.length) {
          throw new PackagingError(`Dataset "${id}" has nothing to package: ${root} ${scan.excluded.length ? `only holds excluded files (${scan.excluded[0]!.relPath}: ${scan.excluded[0]!.reason})` : 'is empty'}.`,
            [{ file: dataloaderPath, severity: 'error', code: 'empty-dataset', offset: dirRef.offset, length: dirRef.length, message: `Dataset "${id}" has no files to package.` }]);
        }
        place.archivePrefix = uniquePrefix(`datasets/${safeSegment(id)}`);
        prefixByRoot.set(root, place.archivePrefix);
        for (const f of scan.files) files.push({ dataset: id, archivePath: `${place.archivePrefix}/${f.relPath}`, absPath: f.absPath, size: f.size, mtimeMs: f.mtimeMs });
        summary = { id, root, files: scan.files.length, bytes: scan.files.reduce((n, f) => n + f.size, 0), archivePrefix: place.archivePrefix };
      }
    }
    // Single files a dataset needs (csv list, parquet captions): inside its folder they are already packaged.
    for (const field of ['csv_file', 'parquet.path'] as const) {
      const ref = ds.paths.find((p) => p.field === field);
      if (!ref) continue;
      if (!ref.resolvable) throw unresolvable(dataloaderPath, id, ref);
      const abs = await resolveConfigPath(ref.expanded, dataloaderPath, opts.workspaceRoot);
      const rel = root ? path.relative(root, abs) : '..';
      if (place.archivePrefix && !rel.startsWith('..') && !path.isAbsolute(rel)) { place.files![field] = `${place.archivePrefix}/${rel.split(path.sep).join('/')}`; continue; }
      const st = await fs.stat(abs);
      const archivePath = `files/${safeSegment(id)}/${safeSegment(path.basename(abs))}`;
      place.files![field] = archivePath;
      files.push({ dataset: id, archivePath, absPath: abs, size: st.size, mtimeMs: st.mtimeMs });
      summary ??= { id, root: path.dirname(abs), files: 0, bytes: 0, archivePrefix: `files/${safeSegment(id)}` };
      summary.files++;
      summary.bytes += st.size;
    }
    if (summary) datasets.push(summary);
    placements.push(place);
  }

  // Configs as they will be inside the package.
  const rewrittenDataloader = referenceCredentials(rewriteDataloader(parsed.root, placements, opts.packageRoot ?? ''), excluded);
  const head: ZipBuffer[] = [{ archivePath: PACKAGE_DATALOADER, data: Buffer.from(`${JSON.stringify(rewrittenDataloader, null, 2)}\n`) }];
  if (training) head.push({ archivePath: PACKAGE_TRAINING_CONFIG, data: Buffer.from(`${JSON.stringify(packagedTrainingConfig(training, opts.packageRoot ?? '', excluded), null, 2)}\n`) });

  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  report({ stage: 'hashing', message: `Checking ${files.length} files against the hash cache…` });
  const cache = await cacheOpened;
  for (const f of files) f.knownSha256 = cache.get(f);
  const base = { datasets, excluded, totalFiles: files.length, totalBytes, rewrittenDataloader, dataloaderConfigPath: dataloaderPath, trainingConfigPath: training?.path };
  // Built directly in ManifestSchema's shape and key order (a zod pass over 100k entries costs more
  // than the rest of an unchanged re-package); the sha256s come from the worker or the validated cache.
  const headEntries = head.map((h) => ({ path: h.archivePath, size: h.data.length, sha256: sha256(h.data) }));
  const buildManifest = (sha256s: string[]): { manifest: Manifest; buf: Buffer } => {
    const manifest: Manifest = {
      version: 1, dataloader: PACKAGE_DATALOADER, ...(training ? { trainingConfig: PACKAGE_TRAINING_CONFIG } : {}),
      datasets: datasets.map((d) => ({ id: d.id, archivePrefix: d.archivePrefix, files: d.files, bytes: d.bytes })),
      files: [...headEntries, ...files.map((f, i) => ({ path: f.archivePath, size: f.size, sha256: sha256s[i]! }))],
    };
    return { manifest, buf: Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`) };
  };

  await fs.mkdir(opts.outDir, { recursive: true });
  if (files.every((f) => f.knownSha256)) {
    const identity = sha256(buildManifest(files.map((f) => f.knownSha256!)).buf);
    const existing = await readExisting(opts.outDir, identity);
    if (existing) {
      report({ stage: 'complete', message: 'Unchanged since the last package: reusing it.', fraction: 1 });
      return PackageResultSchema.parse({ ...existing, ...base, reused: true, durationMs: Date.now() - started });
    }
  }

  const tmp = path.join(opts.outDir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}.zip`);
  try {
    report({ stage: 'packaging', message: `Packaging ${files.length} files (${formatBytes(totalBytes)})…`, fraction: 0 });
    let built: ReturnType<typeof buildManifest> | undefined;
    const { sha256s, zipBytes } = await writeZip(tmp, {
      head, files, signal: opts.signal, worker,
      tail: (shas) => {
        built = buildManifest(shas);
        if (!built.manifest.files.every((f) => SHA256_HEX.test(f.sha256))) throw new Error('internal error: a file of the package has no sha256');
        return [{ archivePath: PACKAGE_MANIFEST, data: built.buf }];
      },
      onBytes: (done) => report({ stage: 'packaging', message: `Packaging… ${formatBytes(done)} of ${formatBytes(totalBytes)}`, fraction: totalBytes ? done / totalBytes : 1 }),
    });
    files.forEach((f, i) => cache.set(f, sha256s[i]!));

    report({ stage: 'verifying', message: 'Verifying the package…' });
    const { manifest, buf: manifestBuf } = built!;
    const mode = opts.verify ?? 'structure';
    // The cache write (mostly fsync) overlaps the verification (mostly yauzl on this thread).
    await Promise.all([
      cache.save(),
      verifyZip(tmp, [...manifest.files, { path: PACKAGE_MANIFEST, size: manifestBuf.length, sha256: sha256(manifestBuf) }], mode, opts.signal),
    ]);

    const identity = sha256(manifestBuf);
    const zipPath = path.join(opts.outDir, `${identity}.zip`);
    await fs.rename(tmp, zipPath);
    const result = PackageResultSchema.parse({ ...base, zipPath, sha256: identity, reused: false, zipBytes, verified: mode, createdAt: new Date().toISOString(), durationMs: Date.now() - started });
    await writeFileAtomic(path.join(opts.outDir, `${identity}.json`), JSON.stringify(result, null, 1));
    report({ stage: 'complete', message: `Packaged ${files.length} files into ${formatBytes(zipBytes)}.`, fraction: 1 });
    return result;
  } catch (e) {
    // A cancelled or failed package leaves nothing behind.
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** The summary of an earlier identical package, if its zip is still there and intact in size. */
async function readExisting(outDir: string, identity: string): Promise<PackageResult | undefined> {
  try {
    const summary = PackageResultSchema.parse(JSON.parse(await fs.readFile(path.join(outDir, `${identity}.json`), 'utf8')));
    const zipPath = path.join(outDir, `${identity}.zip`);
    const st = await fs.stat(zipPath);
    return st.size === summary.zipBytes ? { ...summary, zipPath } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * No secret leaves in a package. SimpleTuner accepts a literal credential in a dataloader entry (we only
 * warn), so the packaged copy carries an `{env:NAME}` reference in its place, which SimpleTuner's
 * template variables resolve on the trainer (configuration/template_vars.py), and the exclusion list says so.
 */
function referenceCredentials(root: unknown, excluded: PackageExclusion[]): unknown {
  const visit = (value: unknown, where: string, dataset: string): unknown => {
    if (Array.isArray(value)) return value.map((v, i) => visit(v, `${where}[${i}]`, dataset));
    if (!value || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const at = where ? `${where}.${k}` : k;
      if (CREDENTIAL_KEY.test(k) && typeof v === 'string' && v.trim() && !referencesEnv(v)) {
        const ref = `{env:${k.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}}`;
        out[k] = ref;
        excluded.push({ dataset, relPath: at, reason: `secret: credential replaced by ${ref} in the packaged dataloader (set it in the trainer's environment)` });
      } else {
        out[k] = visit(v, at, dataset);
      }
    }
    return out;
  };
  const list = Array.isArray(root) ? root : (root as { datasets?: unknown[] }).datasets ?? [];
  const rewritten = list.map((entry, i) => {
    const id = entry && typeof entry === 'object' && typeof (entry as { id?: unknown }).id === 'string' ? (entry as { id: string }).id : `dataset-${i + 1}`;
    return visit(entry, '', id);
  });
  return Array.isArray(root) ? rewritten : { ...(root as object), datasets: rewritten };
}

/** The training config as JSON for the package: dataloader path into the package, credentials removed. */
function packagedTrainingConfig(cfg: TrainingConfig, packageRoot: string, excluded: PackageExclusion[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(cfg.values)) {
    const written = cfg.format === 'json' ? cfg.originalKeys[key] ?? key : `--${key}`;
    if (CREDENTIAL_KEY.test(key)) {
      excluded.push({ dataset: 'training config', relPath: written, reason: 'secret: credential removed from the packaged training config' });
      continue;
    }
    out[written] = key === 'data_backend_config' ? (packageRoot ? path.posix.join(packageRoot, PACKAGE_DATALOADER) : PACKAGE_DATALOADER) : value;
  }
  if (!('data_backend_config' in cfg.values)) out['--data_backend_config'] = packageRoot ? path.posix.join(packageRoot, PACKAGE_DATALOADER) : PACKAGE_DATALOADER;
  return out;
}

/** A local path that only the training machine can fill ({env:…}) cannot be packaged from here. */
function unresolvable(file: string, id: string, ref: PathRef): PackagingError {
  return new PackagingError(`Dataset "${id}": "${ref.field}" is ${ref.value}, which depends on the training machine's environment; a local dataset to package needs a path that can be read here.`,
    [{ file, severity: 'error', code: 'unresolvable-path', offset: ref.offset, length: ref.length, message: `"${ref.field}" depends on the environment ({env:…}); it cannot be packaged from here.` }]);
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** At most ~10 progress reports a second (the packaging loop fires per chunk), stage changes always. */
function throttled(fn?: (p: PackageProgress) => void): (p: PackageProgress) => void {
  let last = 0, lastStage = '';
  return (p) => {
    if (!fn) return;
    const now = Date.now();
    if (p.stage === lastStage && now - last < 100) return;
    last = now; lastStage = p.stage;
    fn(p);
  };
}
