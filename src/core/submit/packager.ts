import path from 'node:path';
import { buildPackage } from '../packaging';
import { PackageInfoSchema, type Packager } from './steps';

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
  };
}
