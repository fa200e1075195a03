import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

describe('webview code boundaries', () => {
  it('@vscode/webview-ui-toolkit is imported by webview/shared/toolkit.ts only (a one-file swap to its successor)', () => {
    const importers = [...files(path.join(root, 'webview')), ...files(path.join(root, 'src'))]
      .filter((f) => /from\s+['"]@vscode\/webview-ui-toolkit/.test(readFileSync(f, 'utf8')))
      .map((f) => path.relative(root, f));
    assert.deepEqual(importers, ['webview/shared/toolkit.ts']);
  });

  it('pages never write HTML from strings and never reach the network', () => {
    for (const f of files(path.join(root, 'webview'))) {
      const text = readFileSync(f, 'utf8');
      assert.doesNotMatch(text, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write/, f);
      assert.doesNotMatch(text, /\bfetch\(|XMLHttpRequest|WebSocket|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, f);
    }
  });

  it('src/core (shared with the CLI) never imports vscode', () => {
    for (const dir of ['src/core/cost', 'src/core/consent', 'src/core/submit']) {
      for (const f of files(path.join(root, dir))) assert.doesNotMatch(readFileSync(f, 'utf8'), /from ['"]vscode['"]/, f);
    }
  });
});
