import * as vscode from 'vscode';
import type { ConfigDiagnostic } from '../../core/config/diagnostics';

const SEVERITY: Record<ConfigDiagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/** Offsets → positions for text that may not be open in an editor. */
export function positionAt(text: string, offset: number): vscode.Position {
  let line = 0, lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) { line++; lineStart = i + 1; }
  return new vscode.Position(line, Math.max(0, offset - lineStart));
}

export function toDiagnostic(text: string, d: ConfigDiagnostic): vscode.Diagnostic {
  const range = new vscode.Range(positionAt(text, d.offset), positionAt(text, d.offset + d.length));
  const diag = new vscode.Diagnostic(range, d.message, SEVERITY[d.severity]);
  diag.source = 'Cloud Training';
  diag.code = d.code;
  return diag;
}
