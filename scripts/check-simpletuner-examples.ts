/**
 * Local check: run every dataloader config SimpleTuner ships through our validator and report errors.
 *   node --import tsx scripts/check-simpletuner-examples.ts [--mirror DIR] [--src DIR/src/core/config/index.ts] [--verbose]
 * (--src runs another checkout's validator, for a before/after count.)
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { collectExamples, DEFAULT_MIRROR, mirrorAvailable, validateExample } from './simpletuner-examples';

const { values } = parseArgs({ options: { mirror: { type: 'string' }, src: { type: 'string' }, verbose: { type: 'boolean' } } });
const mirror = values.mirror ?? DEFAULT_MIRROR;
if (!mirrorAvailable(mirror)) { console.error(`No SimpleTuner mirror at ${mirror} (set --mirror or SIMPLETUNER_MIRROR).`); process.exit(2); }
async function main(): Promise<number> {
const src = path.resolve(values.src ?? path.join(__dirname, '../src/core/config/index.ts'));
const mod = await import(pathToFileURL(src).href) as Record<string, unknown>;
const examples = collectExamples(mirror);
let clean = 0, accepted = 0, rejectedOk = 0, rejected = 0;
for (const ex of examples) {
  const r = await validateExample(ex, (mod.default ?? mod) as Parameters<typeof validateExample>[1]);
  if (ex.expectRejected) { rejected++; if (r.errors.length) rejectedOk++; }
  else { accepted++; if (!r.errors.length) clean++; }
  const bad = ex.expectRejected ? !r.errors.length : r.errors.length > 0;
  if (bad || values.verbose) console.log(`${bad ? 'FAIL' : 'ok  '} ${ex.source}${r.errors.map((e) => `\n       ${e.code}: ${e.message}`).join('')}`);
}
console.log(`\n${clean}/${accepted} configs SimpleTuner accepts validated with zero errors; ${rejectedOk}/${rejected} of its rejection fixtures were flagged.`);
return clean === accepted && rejectedOk === rejected ? 0 : 1;
}
main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
