import path from 'node:path';
import * as vscode from 'vscode';
import { discoverConfigs, isDataloaderConfigPath } from '../../core/config/discover';
import { formatBytes } from '../../core/format';
import { PackagingError, type PackageResult } from '../../core/packaging/result';
import { packageSummary } from '../../core/packaging/summary';
import type { ExtensionServices } from '../services';
import { extraExcludes } from './settings';

/** The dataloader config to package: the argument (CodeLens, explorer), the active editor, or a pick. */
export async function pickDataloader(arg: unknown, isDataloader: (file: string) => boolean): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string') return vscode.Uri.file(arg);
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.scheme === 'file' && isDataloader(active.fsPath)) return active;
  const found: string[] = [];
  for (const f of vscode.workspace.workspaceFolders ?? []) found.push(...(await discoverConfigs(f.uri.fsPath)).dataloaderConfigs.map((d) => d.path));
  if (found.length <= 1) return found[0] ? vscode.Uri.file(found[0]) : undefined;
  const pick = await vscode.window.showQuickPick(found.map((p) => ({ label: vscode.workspace.asRelativePath(p), path: p })), { placeHolder: 'Which dataloader config?' });
  return pick && vscode.Uri.file(pick.path);
}

/**
 * Package the datasets of a dataloader config inside a cancellable progress notification; on success
 * offer the summary (what went in, what was excluded and why) and the zip.
 */
export async function packageWithProgress(services: ExtensionServices, uri: vscode.Uri, onProblems?: (uri: vscode.Uri) => void): Promise<PackageResult | undefined> {
  const { layout, log } = services;
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (doc?.isDirty) await doc.save();
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Packaging ${path.basename(uri.fsPath)}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        let reported = 0;
        try {
          // Loaded on first use: yazl/yauzl and the packager are not needed to activate the extension.
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const { buildPackage } = require('../../core/packaging') as typeof import('../../core/packaging');
          return await buildPackage({
            dataloaderConfigPath: uri.fsPath,
            workspaceRoot: vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath,
            outDir: path.join(layout.cacheDir, 'packages'),
            cacheDir: layout.cacheDir,
            extraExcludes: extraExcludes(uri),
            signal: abort.signal,
            onProgress: (p) => {
              // withProgress takes increments; the core reports absolute fractions.
              const now = Math.round((p.fraction ?? reported / 100) * 100);
              progress.report({ message: p.message, increment: p.fraction !== undefined ? Math.max(0, now - reported) : undefined });
              if (p.fraction !== undefined) reported = Math.max(reported, now);
            },
          });
        } finally {
          sub.dispose();
        }
      });
    log.info(`packaged ${uri.fsPath}: ${result.totalFiles} files, ${result.totalBytes} bytes, ${result.excluded.length} excluded → ${result.zipPath}${result.reused ? ' (reused)' : ''}`);
    void offerResult(result);
    return result;
  } catch (e) {
    if ((e as Error).name === 'AbortError') {
      void vscode.window.showInformationMessage('Packaging cancelled.');
      return undefined;
    }
    log.error(`packaging ${uri.fsPath}: ${(e as Error).message}`);
    if (e instanceof PackagingError && e.diagnostics.length) onProblems?.(vscode.Uri.file(e.diagnostics[0]!.file));
    const choice = await vscode.window.showErrorMessage(`Packaging failed: ${(e as Error).message}`, ...(e instanceof PackagingError ? ['Show Problems'] : []));
    if (choice === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
    return undefined;
  }
}

async function offerResult(r: PackageResult): Promise<void> {
  const msg = `${r.reused ? 'Unchanged: reusing package' : 'Packaged'} ${r.totalFiles} files (${formatBytes(r.totalBytes)} → ${formatBytes(r.zipBytes)})` +
    `${r.excluded.length ? `, ${r.excluded.length} excluded` : ''}.`;
  const choice = await vscode.window.showInformationMessage(msg, 'Show Summary', 'Reveal Package');
  if (choice === 'Reveal Package') await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(r.zipPath));
  if (choice === 'Show Summary') {
    const doc = await vscode.workspace.openTextDocument({ content: packageSummary(r, r.zipPath), language: 'plaintext' });
    await vscode.window.showTextDocument(doc, { preview: true });
  }
}

export { isDataloaderConfigPath };
