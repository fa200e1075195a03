// The dataloader config shows, above the file, how many datasets and files it covers; the numbers
// are computed here from the example workspace itself.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { workbench } from './support/hooks';
import { waitFor } from './support/workbench';

const DATALOADER = 'config/multidatabackend.json';

function countFiles(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((n, e) =>
    n + (e.isDirectory() ? countFiles(path.join(dir, e.name)) : e.isFile() ? 1 : 0), 0);
}

describe('CodeLens on the dataloader config', () => {
  it(`shows the dataset and file counts above ${DATALOADER}`, async () => {
    const wb = workbench();
    const root = wb.env.workspaceDir;
    const datasets = JSON.parse(readFileSync(path.join(root, DATALOADER), 'utf8')) as Array<{ id: string; type?: string; instance_data_dir?: string }>;
    const local = datasets.filter((d) => (d.type ?? 'local') === 'local' && d.instance_data_dir);
    const files = local.reduce((n, d) => n + countFiles(path.join(root, d.instance_data_dir!)), 0);
    assert.ok(datasets.length > 0 && files > 0 && statSync(path.join(root, DATALOADER)).isFile());

    await wb.openFile(DATALOADER);
    const lenses = wb.page.locator('.monaco-editor .codelens-decoration');
    const texts = await waitFor('CodeLens with dataset counts', async () => {
      const t = (await lenses.allInnerTexts()).map((x) => x.replace(/\s+/g, ' ').trim()).filter(Boolean);
      // "N datasets · counting files…" first, then the counts once the background scan is done.
      return t.some((x) => /\d+ datasets? · [\d,]+ files?/.test(x)) ? t : undefined;
    }, 60_000);
    await wb.screenshot('03-codelens-dataloader');
    const header = texts.find((x) => /\d+ datasets?/.test(x))!;
    assert.match(header, new RegExp(`\\b${datasets.length} datasets?\\b`), `dataset count in "${header}"`);
    assert.match(header, new RegExp(`\\b${files} files?\\b`), `file count in "${header}"`);
    assert.match(header, /Submit/, `the Submit… action is offered: "${header}"`);
    // Each local dataset has its own lens with its own file count.
    for (const d of local) {
      const n = countFiles(path.join(root, d.instance_data_dir!));
      assert.ok(texts.some((x) => x !== header && new RegExp(`\\b${n} files?\\b`).test(x)), `a lens with ${n} files for dataset ${d.id} (lenses: ${texts.join(' | ')})`);
    }
  });
});
