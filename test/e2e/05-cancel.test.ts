// Cancel a running job from the tree's context menu: confirm in the modal, the job ends cancelled.
import assert from 'node:assert/strict';
import { workbench } from './support/hooks';
import { command, readManifest } from './support/manifest';
import { processesMatching } from './support/processes';
import { submitFromPalette } from './support/submit';
import { waitFor } from './support/workbench';

describe('cancel from the tree', () => {
  it("cancels a running job from the job's context menu", async () => {
    const wb = workbench();
    const cancel = command(readManifest(), 'cloudTraining.cancelJob');
    assert.ok(cancel, 'package.json contributes cloudTraining.cancelJob');
    await wb.openFile('config/config.json');
    await wb.showJobsView();
    await submitFromPalette(wb, { provider: /\blocal\b|this machine/i });
    const { row } = await wb.waitForJobRow(/\brunning\b/i, 60_000);
    // The trainer of this job (its output folder is under our data home) is a live process.
    const trainer = () => processesMatching('train_demo.py', wb.env.dataHome);
    assert.ok(trainer().length > 0, 'the running job has a trainer process');
    await wb.contextMenu(row, cancel.title);
    const confirm = wb.dialogButton(cancel.title);
    const asked = await waitFor('the cancel confirmation (or the job picker)', async () =>
      (await confirm.isVisible()) ? 'dialog' : (await wb.quickInput.isVisible()) ? 'picker' : undefined, 10_000);
    if (asked === 'picker') {
      // The extension host resolves the clicked row to its tree node; when the tree was refreshed in
      // that instant the command gets no node and falls back to asking which job. Still a path a
      // user can finish, so finish it — and say so.
      console.log('      NOTE: the context menu passed no job (the tree refreshed under the click); picking it');
      await wb.pick(/running/i);
      await confirm.waitFor({ state: 'visible', timeout: 10_000 });
    }
    await wb.screenshot('05-cancel-confirm');
    await confirm.click();
    const done = await wb.waitForJobRow(/\bcancell?ed\b/i, 60_000);
    assert.doesNotMatch(done.text, /succeeded/i);
    await wb.screenshot('05-tree-job-cancelled');
    await waitFor('the trainer process to be gone', () => trainer().length === 0, 15_000);
  });
});
