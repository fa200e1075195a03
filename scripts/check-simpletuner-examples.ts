/**
 * Local check: run every dataloader config SimpleTuner ships through our validator and report errors.
 *   node --import tsx scripts/check-simpletuner-examples.ts [--mirror DIR] [--src DIR/src/core/config/index.ts] [--verbose] [--no-package]
 * Configs that validate cleanly are also packaged (our buildPackage), unless --no-package or --src
 * (--src runs another checkout's validator, for a before/after count).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { buildPackage } from '../src/core/packaging';
import { collectExamples, DEFAULT_MIRROR, mirrorAvailable, validateExample, type Packer } from './simpletuner-examples';

const { values } = parseArgs({ options: { mirror: { type: 'string' }, src: { type: 'string' }, verbose: { type: 'boolean' }, 'no-package': { type: 'boolean' } } });
const mirror = values.mirror ?? DEFAULT_MIRROR;
if (!mirrorAvailable(mirror)) { console.error(`No SimpleTuner mirror at ${mirror} (set --mirror or SIMPLETUNER_MIRROR).`); process.exit(2); }
function packer(): Packer {
  return (dataloaderConfigPath: string, workspaceRoot: string) => buildPackage({ dataloaderConfigPath, workspaceRoot, outDir: path.join(workspaceRoot, '.pkg'), cacheDir: path.join(workspaceRoot, '.pkg-cache') });
}

async function main(): Promise<number> {
const src = path.resolve(values.src ?? path.join(__dirname, '../src/core/config/index.ts'));
const mod = await import(pathToFileURL(src).href) as Record<string, unknown>;
const examples = collectExamples(mirror);
const pack = values.src || values['no-package'] ? undefined : packer();
let clean = 0, packaged = 0, accepted = 0, rejectedOk = 0, rejected = 0;
for (const ex of examples) {
  const r = await validateExample(ex, (mod.default ?? mod) as Parameters<typeof validateExample>[1], pack);
  if (ex.expectRejected) { rejected++; if (r.errors.length) rejectedOk++; }
  else { accepted++; if (!r.errors.length) clean++; if (!r.errors.length && !r.packageError) packaged++; }
  const bad = ex.expectRejected ? !r.errors.length : r.errors.length > 0 || !!r.packageError;
  const why = [...r.errors.map((e) => `${e.code}: ${e.message}`), ...(r.packageError ? [`package: ${r.packageError}`] : [])];
  if (bad || values.verbose) console.log(`${bad ? 'FAIL' : 'ok  '} ${ex.source}${ex.expectRejected ? ' (SimpleTuner refuses it)' : ''}${why.map((w) => `\n       ${w}`).join('')}`);
}
console.log(`\n${clean}/${accepted} configs SimpleTuner accepts validated with zero errors${pack ? ` (${packaged} packaged)` : ''}; ${rejectedOk}/${rejected} it refuses were flagged.`);
return clean === accepted && (!pack || packaged === accepted) && rejectedOk === rejected ? 0 : 1;
}
main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
