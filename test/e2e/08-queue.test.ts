// The per-machine queue in the real editor: a second local job submitted while the first runs waits
// under "Queued" with its place (#1), offers Move to Top in its context menu, and starts by itself once
// the first has ended.
import assert from 'node:assert/strict';
import { workbench } from './support/hooks';
import { command, readManifest } from './support/manifest';
import { submitFromPalette } from './support/submit';
import { rowText, waitFor } from './support/workbench';

describe('queue on this machine', () => {
  it('queues a second local job while the first runs, then starts it by itself', async () => {
    const wb = workbench();
    const moveToTop = command(readManifest(), 'cloudTraining.moveToTopOfQueue');
    assert.ok(moveToTop, 'package.json contributes cloudTraining.moveToTopOfQueue');
    await wb.openFile('config/config.json');
    await wb.showJobsView();
    await wb.widenSideBar();
    await submitFromPalette(wb, { provider: /\blocal\b|this machine/i });
    await wb.waitForJobRow(/\brunning\b/i, 60_000);
    // This machine has no GPU here: capacity 1, so the second job waits.
    await submitFromPalette(wb, { provider: /\blocal\b|this machine/i });
    const waiting = await wb.waitForJobRow(/#1\b.*waiting for a free slot/i, 30_000);
    const groups = (await wb.sideBarRows().allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    assert.ok(groups.some((g) => /^Queued \(1\)/.test(g)), `a Queued group with one job (rows: ${groups.join(' | ')})`);
    await wb.screenshot('08-queue-waiting');
    // Its context menu offers Move to Top (a queued job's action).
    await waiting.row.click({ button: 'right' });
    const menu = wb.page.locator('.context-view .monaco-menu');
    await menu.waitFor({ state: 'visible', timeout: 10_000 });
    const labels = (await menu.locator('.action-item .action-label').allInnerTexts()).map((l) => l.trim());
    await wb.pressEscape();
    assert.ok(labels.includes(moveToTop.title), `the context menu offers ${moveToTop.title} (it shows: ${labels.join(' | ')})`);
    // The first ends; the window's monitor starts the waiting one.
    const texts = async () => Promise.all((await wb.jobRows().all()).map((r) => rowText(r)));
    await waitFor('the first job finished and the second running (none waiting)', async () => {
      const t = await texts();
      return t.some((x) => /\bsucceeded\b/i.test(x)) && t.some((x) => /\brunning\b/i.test(x)) && !t.some((x) => /waiting for a free slot/i.test(x));
    }, 180_000);
    await wb.screenshot('08-queue-second-started');
  });
});
