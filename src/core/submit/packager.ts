import type { Packager } from './steps';

/**
 * The packager used by the extension and the CLI. The packaging module (src/core/packaging) is being
 * written alongside this one; until its `buildPackage` lands, providers that upload data cannot be
 * submitted to and say so.
 */
export function defaultPackager(): Packager | undefined {
  return undefined;
}
