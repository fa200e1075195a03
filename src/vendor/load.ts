import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * A third-party library built into its own file, dist/vendor/<name>.js (scripts/build.mjs), and
 * loaded on first use: what the extension bundle does not contain, VS Code does not parse at every
 * activation. In the bundles this module's code sits in dist/extension.js or dist/cli.js, so the
 * file is beside it; from source (tests, tsx) the entry is src/vendor/<name>.ts. The computed path
 * keeps esbuild from pulling the library back into the bundle.
 */
export function loadVendor<T>(name: 'aws-s3' | 'ssh2' | 'together' | 'llama3-tokenizer'): T {
  const shipped = path.join(__dirname, 'vendor', `${name}.js`);
  const file = existsSync(shipped) ? shipped : path.join(__dirname, name);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as T;
}
