// Runs inside VS Code's extension host (desktop, via @vscode/test-electron) against the built
// extension and a copy of examples/simpletuner-demo, with a seeded job history.
import assert from 'node:assert/strict';
import path from 'node:path';
import * as vscode from 'vscode';
import { seededJobs } from './seed';

interface Manifest {
  publisher: string;
  name: string;
  contributes: { commands: Array<{ command: string }> };
}

function ourExtension(): vscode.Extension<unknown> {
  const manifest = require(path.join(process.env.CT_REPO_ROOT!, 'package.json')) as Manifest;
  const ext = vscode.extensions.getExtension(`${manifest.publisher}.${manifest.name}`);
  assert.ok(ext, `extension ${manifest.publisher}.${manifest.name} is loaded`);
  return ext;
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function workspaceFile(rel: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the example workspace is open');
  return vscode.Uri.joinPath(folder.uri, rel);
}

describe('Cloud Training in the extension host', () => {
  it('activates when its view is opened', async () => {
    const ext = ourExtension();
    await vscode.commands.executeCommand('cloudTraining.jobs.focus');
    await until('activation', () => ext.isActive || undefined);
    assert.equal(ext.isActive, true);
  });

  it('registers every command contributed in package.json', async () => {
    const ext = ourExtension();
    const contributed = (ext.packageJSON as Manifest).contributes.commands.map((c) => c.command);
    assert.ok(contributed.length > 0);
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(contributed.filter((c) => !registered.has(c)), []);
  });

  it('populates the Jobs tree from the history file', async () => {
    const ext = ourExtension();
    const api = (await ext.activate()) as { tree?: vscode.TreeDataProvider<unknown> } | undefined;
    assert.ok(api?.tree, 'activate() returns the jobs tree provider as `tree` (test seam)');
    const seeded = seededJobs();
    const labels = await until('the seeded jobs in the tree', async () => {
      const all: string[] = [];
      const walk = async (parent?: unknown): Promise<void> => {
        for (const child of (await api.tree!.getChildren(parent)) ?? []) {
          const item = await api.tree!.getTreeItem(child);
          all.push(`${typeof item.label === 'string' ? item.label : item.label?.label ?? ''} ${item.description ?? ''}`);
          if (item.collapsibleState !== vscode.TreeItemCollapsibleState.None) await walk(child);
        }
      };
      await walk();
      return all.some((l) => l.includes(seeded.succeeded.name)) && all.some((l) => l.includes(seeded.failed.name)) ? all : undefined;
    });
    assert.ok(labels.some((l) => l.includes(seeded.succeeded.name) && /succeeded/.test(l)), labels.join(' | '));
    assert.ok(labels.some((l) => l.includes(seeded.failed.name) && /failed/.test(l)), labels.join(' | '));
  });

  it('shows dataset counts in a CodeLens above the example dataloader config', async () => {
    const uri = workspaceFile('config/multidatabackend.json');
    await vscode.window.showTextDocument(uri);
    const lenses = await until('CodeLens with dataset counts', async () => {
      const got = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri, 50)) ?? [];
      // The counts arrive after a background scan ("counting files…" until then).
      return got.some((l) => /\d+ datasets? · [\d,]+ files?/.test(l.command?.title ?? '')) ? got : undefined;
    });
    const header = lenses.find((l) => /\d+ datasets?/.test(l.command?.title ?? ''))!;
    assert.match(header.command!.title, /\b2 datasets?\b/);
    assert.match(header.command!.title, /\b24 files?\b/);
  });

  it("streams a job's log lines into its output channel", async () => {
    const seeded = seededJobs();
    await vscode.commands.executeCommand('cloudTraining.showLogs', seeded.succeeded.id);
    // A shown output channel is exposed to extensions as a text document with the `output` scheme.
    const doc = await until('the job log in an output channel', () =>
      vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'output' && d.getText().includes(seeded.succeeded.logLine)));
    assert.match(doc.getText(), /120\/120/);
  });
});
