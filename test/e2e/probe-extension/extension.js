// Test-only probe installed next to the extension under test in the e2e host. The workbench UI
// lists every command a package.json *contributes*, registered or not; only the extension host
// knows which ones are really registered, so this writes that list to $E2E_PROBE_OUT.
const vscode = require('vscode');
const fs = require('fs');

exports.activate = (context) => {
  context.subscriptions.push(vscode.commands.registerCommand('e2eProbe.dumpState', async () => {
    const out = process.env.E2E_PROBE_OUT;
    if (!out) throw new Error('E2E_PROBE_OUT is not set');
    const state = {
      at: new Date().toISOString(),
      nodeVersion: process.version,
      vscodeVersion: vscode.version,
      extensions: vscode.extensions.all
        .filter((e) => !e.id.startsWith('vscode.'))
        .map((e) => ({ id: e.id, active: e.isActive })),
      commands: (await vscode.commands.getCommands(true)).sort(),
      documents: vscode.workspace.textDocuments.map((d) => ({ uri: d.uri.toString(), length: d.getText().length })),
    };
    fs.writeFileSync(out + '.tmp', JSON.stringify(state, null, 2));
    fs.renameSync(out + '.tmp', out);
    return state;
  }));
};
