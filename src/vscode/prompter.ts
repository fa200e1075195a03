import * as vscode from 'vscode';
import type { Prompter } from '../core/providers/types';

/** Host keys and key passphrases asked in the editor. Passphrases are returned once, never stored. */
export const vscodePrompter: Prompter = {
  async confirm(message, detail) {
    const yes = 'Trust and Connect';
    const pick = await vscode.window.showWarningMessage(message, { modal: true, detail }, yes);
    return pick === yes;
  },
  async secret(prompt) {
    return vscode.window.showInputBox({ title: prompt, password: true, ignoreFocusOut: true, prompt: 'Used for this connection only; not saved.' });
  },
};
