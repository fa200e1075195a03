import path from 'node:path';
import { buildPackage, scanDataset } from '../packaging';
import { PackageInfoSchema, type FolderSummary, type Packager } from './steps';

export interface PackagerOptions {
  /** Extra exclude globs (setting `cloudTraining.packaging.extraExcludes`). */
  extraExcludes?: string[];
  workspaceRoot?: string;
}

/**
 * The packaging module behind the pipeline's Packager interface. Packages are content-addressed under
 * `<cacheDir>/packages/<sha256>.zip`; an unchanged dataset comes back `reused` and is not rebuilt.
 */
export function defaultPackager(opts: PackagerOptions = {}): Packager {
  return {
    async build(req) {
      const result = await buildPackage({
        dataloaderConfigPath: req.dataloaderConfigPath,
        trainingConfigPath: req.trainingConfigPath,
        outDir: path.join(req.cacheDir, 'packages'),
        cacheDir: req.cacheDir,
        extraExcludes: opts.extraExcludes,
        workspaceRoot: opts.workspaceRoot,
        signal: req.signal,
        onProgress: (p) => req.onProgress?.(p.message, p.fraction),
      });
      return PackageInfoSchema.parse(result);
    },
    async summarizeFolders(req) {
      const out: FolderSummary = { datasets: [], excluded: [], totalFiles: 0, totalBytes: 0 };
      for (const [i, f] of req.folders.entries()) {
        req.onProgress?.(`Scanning ${f.id}…`, i / Math.max(1, req.folders.length));
        const scan = await scanDataset(f.path, { extraExcludes: opts.extraExcludes, signal: req.signal });
        const bytes = scan.files.reduce((n, x) => n + x.size, 0);
        out.datasets.push({ id: f.id, root: f.path, files: scan.files.length, bytes });
        out.excluded.push(...scan.excluded.map((e) => ({ dataset: f.id, ...e })));
        out.totalFiles += scan.files.length;
        out.totalBytes += bytes;
      }
      return out;
    },
  };
}
