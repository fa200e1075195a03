import * as vscode from 'vscode';
import { discoverConfigs, isDataloaderConfigPath } from '../../core/config/discover';
import { loadTrainingConfig } from '../../core/config/training';
import { validateConfigFile, validateDataloaderText } from '../../core/config/validate';
import { Disposable } from '../disposable';
import { toDiagnostic } from './ranges';

/**
 * Keeps VS Code diagnostics for dataloader and training configs current: files found in the workspace
 * on start, open documents as they are edited (debounced), and again when the disk changes under them
 * (a dataset folder created or emptied).
 */
export class ConfigDiagnostics extends Disposable {
  private readonly collection = this._register(vscode.languages.createDiagnosticCollection('cloudTraining'));
  /** Dataloader configs named by a training config's data_backend_config, whatever their file name. */
  private readonly referenced = new Set<string>();
  private readonly trainingConfigs = new Set<string>();
  /** A training config naming each dataloader config: its options are the dataloader's global defaults. */
  private readonly trainingFor = new Map<string, string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly log: vscode.LogOutputChannel) {
    super();
    this._register(vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d, 0)));
    this._register(vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document, 300)));
    this._register(vscode.workspace.onDidCloseTextDocument((d) => { if (!this.isConfig(d.uri.fsPath)) return; void this.validateFile(d.uri); }));
    this._register({ dispose: () => { for (const t of this.timers.values()) clearTimeout(t); this.timers.clear(); } });
    for (const d of vscode.workspace.textDocuments) this.schedule(d, 0);
  }

  isConfig(file: string): boolean { return isDataloaderConfigPath(file) || this.referenced.has(file) || this.trainingConfigs.has(file); }

  /** Find and check every config of the workspace; returns how many files and problems. */
  async validateWorkspace(signal?: AbortSignal): Promise<{ files: number; errors: number; warnings: number }> {
    let files = 0, errors = 0, warnings = 0;
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const found = await discoverConfigs(folder.uri.fsPath, { signal });
      for (const d of found.dataloaderConfigs) {
        this.referenced.add(d.path);
        if (d.referencedBy[0]) this.trainingFor.set(d.path, d.referencedBy[0]);
      }
      for (const t of found.trainingConfigs) this.trainingConfigs.add(t.path);
      const paths = [...found.trainingConfigs.map((t) => t.path), ...found.dataloaderConfigs.map((d) => d.path)];
      for (const p of new Set(paths)) {
        if (signal?.aborted) break;
        const counts = await this.validateFile(vscode.Uri.file(p), folder.uri.fsPath);
        files++; errors += counts.errors; warnings += counts.warnings;
      }
    }
    return { files, errors, warnings };
  }

  /** Validate a file from disk (or its open document) and publish its diagnostics. */
  async validateFile(uri: vscode.Uri, workspaceRoot = vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath): Promise<{ errors: number; warnings: number }> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    try {
      const training = await this.trainingValues(uri.fsPath, workspaceRoot);
      const results = open && this.isDataloaderDoc(open)
        ? [await validateDataloaderText(open.getText(), uri.fsPath, workspaceRoot, training)]
        : await validateConfigFile(uri.fsPath, workspaceRoot, { training });
      let errors = 0, warnings = 0;
      for (const r of results) {
        const current = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === r.file);
        // Offsets refer to the text validated; an edit since then is re-validated by its own timer.
        if (current && current.getText() !== r.text) continue;
        this.collection.set(vscode.Uri.file(r.file), r.diagnostics.map((d) => toDiagnostic(r.text, d)));
        errors += r.diagnostics.filter((d) => d.severity === 'error').length;
        warnings += r.diagnostics.filter((d) => d.severity !== 'error').length;
      }
      return { errors, warnings };
    } catch (e) {
      this.log.warn(`validate ${uri.fsPath}: ${(e as Error).message}`);
      this.collection.delete(uri);
      return { errors: 0, warnings: 0 };
    }
  }

  /** Re-check configs whose datasets may have changed on disk (the file watcher calls this). */
  revalidateOpen(): void {
    for (const [key] of this.collection) if (this.isConfig(key.fsPath)) void this.validateFile(key);
  }

  /** The options of the training config naming this dataloader config, so both views of it agree. */
  private async trainingValues(file: string, workspaceRoot?: string): Promise<Record<string, unknown> | undefined> {
    const training = this.trainingFor.get(file);
    if (!training) return undefined;
    try { return (await loadTrainingConfig(training, workspaceRoot)).values; } catch { return undefined; }
  }

  private isDataloaderDoc(d: vscode.TextDocument): boolean {
    return isDataloaderConfigPath(d.uri.fsPath) || this.referenced.has(d.uri.fsPath);
  }

  private schedule(doc: vscode.TextDocument, delayMs: number): void {
    if (doc.uri.scheme !== 'file' || !this.isConfig(doc.uri.fsPath)) return;
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(key, setTimeout(() => { this.timers.delete(key); void this.validateFile(doc.uri); }, delayMs));
  }
}
