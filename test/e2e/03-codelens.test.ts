// The dataloader config shows, above the file, how many datasets and files it covers, and each
// dataset its own count; the numbers are computed here from the example workspace itself.
import assert from 'node:assert/strict';
import { workbench } from './support/hooks';
import { DATALOADER, exampleDatasets } from './support/example';
import { waitFor } from './support/workbench';

describe('CodeLens on the dataloader config', () => {
  it(`shows the dataset and file counts above ${DATALOADER}`, async () => {
    const wb = workbench();
    const ex = exampleDatasets(wb.env.workspaceDir);
    assert.ok(ex.all.length > 0 && ex.localFiles > 0, 'the example has datasets with files');

    await wb.openFile(DATALOADER);
    const lenses = wb.page.locator('.monaco-editor .codelens-decoration');
    const texts = await waitFor('CodeLens with dataset counts', async () => {
      const t = (await lenses.allInnerTexts()).map((x) => x.replace(/\s+/g, ' ').trim()).filter(Boolean);
      // "N datasets · counting files…" first, then the counts once the background scan is done.
      return t.some((x) => /\d+ datasets? · [\d,]+ files?/.test(x)) ? t : undefined;
    }, 60_000);
    await wb.screenshot('03-codelens-dataloader');
    const header = texts.find((x) => /\d+ datasets?/.test(x))!;
    assert.match(header, new RegExp(`\\b${ex.all.length} datasets?\\b`), `dataset count in "${header}"`);
    assert.match(header, new RegExp(`\\b${ex.localFiles} files?\\b`), `file count in "${header}"`);
    assert.match(header, /Submit/, `the Submit… action is offered: "${header}"`);
    for (const d of ex.local) {
      assert.ok(texts.some((x) => x !== header && x.includes(d.id) && new RegExp(`\\b${d.files} files?\\b`).test(x)),
        `a lens with ${d.files} files above dataset ${d.id} (lenses: ${texts.join(' | ')})`);
    }
  });
});
