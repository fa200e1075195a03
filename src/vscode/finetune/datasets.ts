import * as vscode from 'vscode';
import path from 'node:path';
import { DatasetAnalyzer, type AnalysisRunner, type DatasetAnalysis } from '../../core/finetune/analyzer';
import { isJsonlPath, looksLikeFinetuneDataset, SNIFF_BYTES } from '../../core/finetune/detect';
import { diagnosticSpan } from '../../core/finetune/span';
import { datasetLensTitle } from '../../core/finetune/summary';
import type { DatasetDiagnostic } from '../../core/finetune/schemas';
import { Disposable } from '../disposable';

/** Which documents the fine-tune lens provider is asked about; whether a file is a dataset is decided by its records. */
export const JSONL_SELECTOR: vscode.DocumentSelector = [{ scheme: 'file', pattern: '**/*.jsonl' }, { scheme: 'file', language: 'jsonl' }];

/** A VS Code diagnostic for a dataset diagnostic, on the line's text when the document is open. */
export function toVscodeDiagnostic(d: DatasetDiagnostic, lineText?: string): vscode.Diagnostic {
  const s = diagnosticSpan(d, lineText);
  const diag = new vscode.Diagnostic(new vscode.Range(s.line, s.start, s.line, s.end), d.message,
    d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
  diag.source = 'Cloud Training (fine-tune)';
  diag.code = d.code;
  return diag;
}

/**
 * Fine-tune datasets in the editor: diagnostics and the CodeLens above line 1. Open `.jsonl` documents
 * whose first records are fine-tune records are analysed by the shared DatasetAnalyzer: an unsaved
 * document's text, else the file streamed from disk; debounced on edits, the older run cancelled by a
 * newer one. `validateUri` does the same for a file that is not open (explorer, a file too large for the
 * editor to hand to extensions), always streamed from disk.
 */
export class FinetuneDatasets extends Disposable implements vscode.CodeLensProvider {
  private readonly collection = this._register(vscode.languages.createDiagnosticCollection('cloudTraining.finetune'));
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly analyzer: DatasetAnalyzer;
  /** Known verdicts: is this document (at this version) a fine-tune dataset? */
  private readonly isDataset = new Map<string, { version: number; yes: boolean }>();

  constructor(private readonly log: vscode.LogOutputChannel, private readonly modelFor: (file: string) => string | undefined, debounceMs = 400, run?: AnalysisRunner) {
    super();
    this.analyzer = new DatasetAnalyzer({
      debounceMs,
      run,
      onResult: (r) => this.publish(r),
      onError: (file, e) => this.log.warn(`fine-tune dataset ${file}: ${e.message}`),
    });
    this._register({ dispose: () => this.analyzer.dispose() });
    this._register(vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d, 0)));
    this._register(vscode.workspace.onDidChangeTextDocument((e) => { if (e.contentChanges.length) this.schedule(e.document); }));
    this._register(vscode.workspace.onDidSaveTextDocument((d) => this.schedule(d, 0)));
    this._register(vscode.workspace.onDidCloseTextDocument((d) => {
      // Diagnostics of a closed file stay (the Problems view keeps them); the running analysis stops.
      this.analyzer.cancel(d.uri.fsPath);
      this.isDataset.delete(d.uri.toString());
    }));
    for (const d of vscode.workspace.textDocuments) this.schedule(d, 0);
  }

  /** Whether an open document is a fine-tune dataset (sniffs its first records; cached per version). */
  isDatasetDocument(doc: vscode.TextDocument): boolean {
    if (doc.uri.scheme !== 'file' || !isJsonlPath(doc.uri.fsPath)) return false;
    const key = doc.uri.toString();
    const known = this.isDataset.get(key);
    if (known?.version === doc.version) return known.yes;
    // Only the start of the document, never the whole text of a large one.
    const length = doc.offsetAt(doc.lineAt(doc.lineCount - 1).range.end);
    const end = doc.positionAt(Math.min(SNIFF_BYTES, length));
    const yes = looksLikeFinetuneDataset(doc.getText(new vscode.Range(new vscode.Position(0, 0), end)));
    this.isDataset.set(key, { version: doc.version, yes });
    return yes;
  }

  /** The latest analysis of a file, whatever version it was for. */
  analysis(file: string): DatasetAnalysis | undefined { return this.analyzer.result(file); }

  /** Validate a file from disk (streamed) and publish its diagnostics; the explorer's Validate command. */
  async validateUri(uri: vscode.Uri, signal?: AbortSignal): Promise<DatasetAnalysis | undefined> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    const source = open?.isDirty
      ? { file: uri.fsPath, text: open.getText(), version: open.version, model: this.modelFor(uri.fsPath) }
      : { file: uri.fsPath, version: open?.version ?? `disk:${Date.now()}`, model: this.modelFor(uri.fsPath) };
    const run = this.analyzer.request(source, 0);
    signal?.addEventListener('abort', () => this.analyzer.cancel(uri.fsPath), { once: true });
    return run;
  }

  /** Re-analyse every open dataset (the model whose tokenizer counts changed). */
  refreshAll(): void {
    for (const d of vscode.workspace.textDocuments) this.schedule(d, 0, true);
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!this.isDatasetDocument(doc)) return [];
    const r = this.analyzer.result(doc.uri.fsPath, doc.version) ?? this.analyzer.result(doc.uri.fsPath);
    if (!r) this.schedule(doc, 0);
    const top = new vscode.Range(0, 0, 0, 0);
    const title = r
      ? datasetLensTitle({ examples: r.examples, format: r.format, errors: r.errors, tokens: { total: r.tokens.total, exact: r.tokens.exact } })
      : 'Fine-tune dataset · validating…';
    const tooltip = r
      ? `${r.lines.toLocaleString('en-US')} lines · tokens: ${r.tokens.method}${r.model ? ` (base model ${r.model})` : ''}${r.tokens.contextLength ? ` · longest example ${r.tokens.maxExample} of ${r.tokens.contextLength} context` : ''}`
      : 'Streaming the file: validation and token count';
    const arg = [doc.uri];
    return [
      new vscode.CodeLens(top, { title, command: '', tooltip }),
      new vscode.CodeLens(top, { title: '$(graph) Estimate', command: 'cloudTraining.finetune.estimate', arguments: arg, tooltip: 'Tokens × epochs × the provider\'s price per token' }),
      new vscode.CodeLens(top, { title: '$(rocket) Fine-tune…', command: 'cloudTraining.finetune', arguments: arg, tooltip: 'Fine-tune a base model on this dataset with Together AI or Fireworks' }),
    ];
  }

  private schedule(doc: vscode.TextDocument, delayMs?: number, force = false): void {
    if (!this.isDatasetDocument(doc)) return;
    const file = doc.uri.fsPath;
    if (!force && this.analyzer.result(file, doc.version)) return;
    // Unsaved edits: validate the text the person sees. Saved: stream the file (no copy of its text).
    this.analyzer.request(doc.isDirty
      ? { file, text: doc.getText(), version: doc.version, model: this.modelFor(file) }
      : { file, version: doc.version, model: this.modelFor(file) }, delayMs).catch(() => undefined);
  }

  private publish(r: DatasetAnalysis): void {
    const uri = vscode.Uri.file(r.file);
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === r.file);
    // A result for an older version of an open document is not shown: the newer one is on its way.
    if (doc && typeof r.version === 'number' && doc.version !== r.version) return;
    const diags = r.diagnostics.map((d) => toVscodeDiagnostic(d, doc && d.line <= doc.lineCount ? doc.lineAt(d.line - 1).text : undefined));
    if (r.diagnosticsOmitted > 0) {
      const last = r.diagnostics[r.diagnostics.length - 1];
      const more = new vscode.Diagnostic(new vscode.Range((last?.line ?? 1) - 1, 0, (last?.line ?? 1) - 1, 0),
        `…and ${r.diagnosticsOmitted.toLocaleString('en-US')} more problems in ${path.basename(r.file)} (run "cloudtrain validate" for all of them)`, vscode.DiagnosticSeverity.Information);
      more.source = 'Cloud Training (fine-tune)';
      diags.push(more);
    }
    this.collection.set(uri, diags);
    this.changed.fire();
  }
}
