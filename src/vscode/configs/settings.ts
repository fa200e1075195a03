import * as vscode from 'vscode';
import * as z from 'zod';

const GlobsSchema = z.array(z.string()).catch([]);

export const extraExcludes = (scope?: vscode.Uri): string[] =>
  GlobsSchema.parse(vscode.workspace.getConfiguration('cloudTraining', scope).get<unknown>('packaging.extraExcludes', []));

export const snapshotsEnabled = (scope?: vscode.Uri): boolean =>
  vscode.workspace.getConfiguration('cloudTraining', scope).get<boolean>('snapshots.enabled', false) === true;
