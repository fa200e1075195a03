import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const core = path.join(root, 'src/core');
/** Layers that depend on core; core must not depend on them (dependencies point providers/vscode/cli/server → core). */
const outer = ['providers', 'vscode', 'cli', 'server'].map((d) => path.join(root, 'src', d));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier: static/type imports, re-exports, side-effect imports, import() and require(). */
function specifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]!);
  return out;
}

describe('core layering', () => {
  it('the scanner sees every import form', () => {
    const src = [
      "import type { A } from '../../providers/types';",
      "import {\n  B,\n} from 'vscode';",
      "export { C } from '../cli/format';",
      "import '../server/x';",
      "const d = require('../../vscode/y');",
      "const e = await import('../providers/z');",
    ].join('\n');
    assert.deepEqual(specifiers(src).sort(), ['../../providers/types', '../../vscode/y', '../cli/format', '../providers/z', '../server/x', 'vscode'].sort());
  });

  it('nothing under src/core imports from src/providers, src/vscode, src/cli, src/server, or vscode', () => {
    const bad: string[] = [];
    for (const file of tsFiles(core)) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        const rel = path.relative(root, file);
        if (spec === 'vscode' || spec.startsWith('vscode/')) { bad.push(`${rel} → ${spec}`); continue; }
        if (!spec.startsWith('.')) continue;
        const target = path.resolve(path.dirname(file), spec);
        if (outer.some((o) => target === o || target.startsWith(o + path.sep))) bad.push(`${rel} → ${spec}`);
      }
    }
    assert.deepEqual(bad, [], `core must not depend on outer layers:\n${bad.join('\n')}`);
  });

  it('the editor does not import from the CLI (shared code lives in core)', () => {
    const cli = path.join(root, 'src/cli');
    const bad = tsFiles(path.join(root, 'src/vscode')).flatMap((file) => specifiers(readFileSync(file, 'utf8'))
      .filter((spec) => spec.startsWith('.'))
      .filter((spec) => { const t = path.resolve(path.dirname(file), spec); return t === cli || t.startsWith(cli + path.sep); })
      .map((spec) => `${path.relative(root, file)} → ${spec}`));
    assert.deepEqual(bad, []);
  });
});
