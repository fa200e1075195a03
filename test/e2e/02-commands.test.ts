// Every command contributed in package.json is really registered by the running extension, and the
// palette offers the always-available ones under their contributed labels. The list comes from
// package.json at test time: dropping a command from package.json or from its registration fails.
import assert from 'node:assert/strict';
import { workbench } from './support/hooks';
import { extensionId, paletteLabel, readManifest } from './support/manifest';

describe('contributed commands', () => {
  it('the extension is active and has registered every command in package.json', async () => {
    const wb = workbench();
    const m = readManifest();
    const ids = m.contributes.commands.map((c) => c.command);
    assert.ok(ids.length > 0, 'package.json contributes commands');
    // Activation started when the view opened (scenario 01); give it a few probes to finish.
    let state = await wb.probe();
    const find = () => state.extensions.find((e) => e.id.toLowerCase() === extensionId(m).toLowerCase());
    assert.ok(find(), `extension ${extensionId(m)} is installed in the host (found: ${state.extensions.map((e) => e.id).join(', ')})`);
    for (let i = 0; i < 10 && !find()?.active; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      state = await wb.probe();
    }
    assert.equal(find()?.active, true, 'the extension activated when its view was opened');
    const registered = new Set(state.commands);
    const missing = ids.filter((id) => !registered.has(id));
    // The other way round: a registered command missing from package.json has no palette entry, no
    // menu and no title. VS Code's own per-view commands (<view id>.focus, …) and internal commands
    // named `cloudTraining._…` (CodeLens/tree-click targets) are exempt.
    const viewIds = Object.values(m.contributes.views).flat().map((v) => v.id);
    const uncontributed = state.commands.filter((c) => c.startsWith('cloudTraining.') && !c.startsWith('cloudTraining._')
      && !ids.includes(c) && !viewIds.some((v) => c.startsWith(`${v}.`)));
    assert.deepEqual({ missing, uncontributed }, { missing: [], uncontributed: [] },
      `contributed but not registered: [${missing.join(', ')}]; registered but not contributed in package.json: [${uncontributed.join(', ')}]`);
    console.log(`      ${ids.length} commands registered; host: VS Code ${state.vscodeVersion} on Node ${state.nodeVersion}`);
  });

  it('every menu entry names a contributed command', () => {
    const m = readManifest();
    const ids = new Set(m.contributes.commands.map((c) => c.command));
    const dangling = Object.entries(m.contributes.menus)
      .flatMap(([menu, entries]) => entries.filter((e) => !ids.has(e.command)).map((e) => `${menu}: ${e.command}`));
    assert.deepEqual(dangling, []);
  });

  it('the command palette lists the always-available commands by their labels', async () => {
    const wb = workbench();
    const m = readManifest();
    // Commands with a commandPalette `when` depend on state (e.g. "has jobs"); the others must be there.
    const gated = new Set((m.contributes.menus['commandPalette'] ?? []).map((e) => e.command));
    const always = m.contributes.commands.filter((c) => !gated.has(c.command) && c.command.startsWith('cloudTraining.'));
    assert.ok(always.length > 0);
    const absent: string[] = [];
    // The palette list is virtual (only what fits is in the DOM): look each label up by typing it.
    for (const label of always.map(paletteLabel)) {
      const rows = await wb.openPalette(label);
      await rows.first().waitFor({ state: 'visible', timeout: 5_000 }).catch(() => undefined);
      const shown = (await wb.quickInput.locator('.quick-input-list .monaco-list-row .label-name').allInnerTexts()).map((t) => t.trim());
      if (!shown.includes(label)) absent.push(label);
    }
    await wb.openPalette(`${always[0]!.category ?? ''}: `);
    await wb.quickPickRows().first().waitFor({ state: 'visible' });
    await wb.screenshot('02-command-palette');
    await wb.pressEscape();
    assert.deepEqual(absent, [], 'contributed commands the palette does not offer');
  });
});
