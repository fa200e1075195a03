// A user opens the example workspace: the Cloud Training icon is in the activity bar, and its view
// shows the welcome content (no jobs yet, a button to submit one).
import assert from 'node:assert/strict';
import { workbench } from './support/hooks';
import { readManifest } from './support/manifest';
import { waitFor } from './support/workbench';

describe('activity bar and welcome view', () => {
  it('shows the Cloud Training icon and, on click, the Jobs view with its welcome content', async () => {
    const wb = workbench();
    const m = readManifest();
    const container = m.contributes.viewsContainers.activitybar.find((c) => c.id === 'cloudTraining');
    assert.ok(container, 'package.json contributes no activity bar container "cloudTraining"');
    const view = m.contributes.views['cloudTraining']?.find((v) => v.id === 'cloudTraining.jobs');
    assert.ok(view, 'package.json contributes no view "cloudTraining.jobs"');
    const welcome = m.contributes.viewsWelcome.find((w) => w.view === 'cloudTraining.jobs');
    assert.ok(welcome, 'package.json contributes no welcome content for cloudTraining.jobs');

    const icon = wb.activityBarItem(container.title);
    await icon.waitFor({ state: 'visible', timeout: 30_000 });
    await icon.click();

    const title = await wb.sideBar.locator('.composite.title').innerText();
    assert.match(title, new RegExp(container.title, 'i'), 'the side bar title names the container');

    // The first paragraph of the welcome text (links become buttons) must be on screen.
    const firstParagraph = welcome.contents.split('\n')[0]!.replace(/\[[^\]]*\]\([^)]*\)/g, '').trim();
    // The Jobs view's welcome (the Machines view in the same side bar has one of its own).
    const content = wb.sideBar.locator('.welcome-view-content').filter({ hasText: firstParagraph.slice(0, 40) });
    await content.waitFor({ state: 'visible', timeout: 30_000 });
    const text = await waitFor('the welcome text', async () => {
      const t = (await content.innerText()).replace(/\s+/g, ' ');
      return t.includes(firstParagraph.slice(0, 40)) ? t : undefined;
    });
    assert.ok(text.includes(firstParagraph.replace(/\s+/g, ' ')), `welcome text shown: ${text}`);

    // Every link on its own line is a button: its label is shown.
    const buttonLabels = [...welcome.contents.matchAll(/^\[(?:\$\([^)]*\)\s*)?([^\]]+)\]\(command:[^)]+\)$/gm)].map((x) => x[1]!.trim());
    assert.ok(buttonLabels.length > 0, 'the welcome content offers at least one action');
    const buttons = (await content.locator('.monaco-button').allInnerTexts()).map((b) => b.trim());
    for (const label of buttonLabels) assert.ok(buttons.some((b) => b.includes(label)), `button "${label}" shown (buttons: ${buttons.join(', ')})`);

    await wb.screenshot('01-activity-bar-welcome');
  });
});
