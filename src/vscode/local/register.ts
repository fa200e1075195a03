import * as vscode from 'vscode';

/** `cloudTraining.local.command`: the default command of local jobs (else CLOUD_TRAINING_LOCAL_COMMAND). */
export function readLocalCommand(): string | undefined {
  return vscode.workspace.getConfiguration('cloudTraining').get<string>('local.command') || undefined;
}
