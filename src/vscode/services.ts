import type * as vscode from 'vscode';
import type { JobHistory } from '../core/jobs/history';
import type { DataLayout } from '../core/paths';
import type { ProviderRegistry } from '../core/providers/registry';

/**
 * What activate() builds once and hands to every feature module (tree, commands, CodeLens, webviews,
 * server). Feature modules export `register…(services): void` and push their disposables onto
 * `services.context.subscriptions`.
 */
export interface ExtensionServices {
  context: vscode.ExtensionContext;
  history: JobHistory;
  layout: DataLayout;
  providers: ProviderRegistry;
  /** The extension's own diagnostic log ("Cloud Training"); job logs get their own channels. */
  log: vscode.LogOutputChannel;
  /** This machine's job queue (local and SSH targets), set at activation. */
  queue?: import('./queue/register').EditorQueue;
}
