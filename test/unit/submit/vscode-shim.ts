/**
 * A small stand-in for the `vscode` module, enough to drive src/vscode/submit and src/vscode/webviews
 * without VS Code (which these machines cannot download). Webview panels are real in the way that
 * matters: each page is the real WebviewClient from webview/shared, talking to the real HostChannel
 * through postMessage-like asynchronous, structured-cloned delivery. The test plays the person:
 * it picks quick-pick items and clicks in pages through `autopilot`.
 */
import Module from 'node:module';
import path from 'node:path';
import { WebviewClient } from '../../../webview/shared/client';
import type { ViewKind } from '../../../webview/shared/protocol';

type Listener<T> = (e: T) => unknown;

class Emitter<T> {
  private listeners: Listener<T>[] = [];
  event = (l: Listener<T>) => {
    this.listeners.push(l);
    return { dispose: () => { this.listeners = this.listeners.filter((x) => x !== l); } };
  };
  fire(e: T) { for (const l of [...this.listeners]) l(e); }
}

export class Uri {
  private constructor(readonly scheme: string, readonly fsPath: string, private readonly raw?: string) {}
  static file(p: string) { return new Uri('file', path.resolve(p)); }
  static parse(s: string) { return s.startsWith('file://') ? new Uri('file', decodeURIComponent(s.slice(7))) : new Uri(s.split(':')[0]!, s, s); }
  static joinPath(base: Uri, ...parts: string[]) { return new Uri(base.scheme, path.join(base.fsPath, ...parts)); }
  get path() { return this.fsPath; }
  toString() { return this.raw ?? `file://${this.fsPath}`; }
}

export class ThemeColor { constructor(readonly id: string) {} }
export class ThemeIcon { constructor(readonly id: string, readonly color?: ThemeColor) {} }
export class MarkdownString {
  value = '';
  constructor(value?: string, readonly supportThemeIcons?: boolean) { this.value = value ?? ''; }
  appendMarkdown(s: string) { this.value += s; return this; }
}
// ---- editor pieces the fine-tune dataset features use (diagnostics, CodeLens, documents) -------------
export class EventEmitter<T> extends Emitter<T> { dispose() {} }
export class Position { constructor(readonly line: number, readonly character: number) {} }
export class Range {
  readonly start: Position; readonly end: Position;
  constructor(a: number | Position, b: number | Position, c?: number, d?: number) {
    this.start = typeof a === 'number' ? new Position(a, b as number) : a;
    this.end = typeof a === 'number' ? new Position(c!, d!) : b as Position;
  }
}
export const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 } as const;
export class Diagnostic {
  source?: string; code?: string | number;
  constructor(readonly range: Range, readonly message: string, readonly severity: number) {}
}
export class CodeLens { constructor(readonly range: Range, readonly command?: { title: string; command: string; arguments?: unknown[]; tooltip?: string }) {} }
export const ConfigurationTarget = { Global: 1, Workspace: 2, WorkspaceFolder: 3 } as const;

/** An open document as the fine-tune features read it. */
export class FakeDocument {
  isDirty = false;
  constructor(readonly uri: Uri, public text: string, public version = 1) {}
  get lineCount() { return this.text.split('\n').length; }
  getText(range?: Range) { return range ? this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end)) : this.text; }
  lineAt(n: number) {
    const text = this.text.split('\n')[n]!.replace(/\r$/, '');
    return { text, range: new Range(n, 0, n, text.length) };
  }
  offsetAt(p: Position) {
    const lines = this.text.split('\n');
    let o = 0;
    for (let i = 0; i < p.line && i < lines.length; i++) o += lines[i]!.length + 1;
    return Math.min(o + p.character, this.text.length);
  }
  positionAt(offset: number) {
    const before = this.text.slice(0, offset).split('\n');
    return new Position(before.length - 1, before[before.length - 1]!.length);
  }
}

export const ViewColumn = { Active: -1, One: 1, Beside: -2 } as const;
export const ProgressLocation = { Notification: 15, Window: 10 } as const;

export interface Page {
  view: ViewKind;
  panel: FakePanel;
  client: WebviewClient<ViewKind>;
  data: unknown[];
}

class FakeWebview {
  options: unknown = {};
  cspSource = 'vscode-webview://test';
  private _html = '';
  private readonly fromPage = new Emitter<unknown>();
  private toPage: ((m: unknown) => void) | undefined;
  page: Page | undefined;
  constructor(private readonly panel: FakePanel) {}
  asWebviewUri(u: Uri) { return u; }
  get html() { return this._html; }
  /** Setting the HTML "loads" the page: a fresh WebviewClient, which says ready. */
  set html(v: string) {
    this._html = v;
    const view = /data-view="([a-z]+)"/.exec(v)?.[1] as ViewKind;
    const client = new WebviewClient(view, {
      post: (m) => setImmediate(() => { if (!this.panel.disposed) this.fromPage.fire(structuredClone(m)); }),
      listen: (h) => { this.toPage = h; return () => { this.toPage = undefined; }; },
    });
    const page: Page = { view, panel: this.panel, client, data: [] };
    client.onData((d) => { page.data.push(d); shim.autopilot(page, d); });
    this.page = page;
    shim.pages.push(page);
    client.start();
  }
  onDidReceiveMessage = this.fromPage.event;
  postMessage(m: unknown) {
    if (this.panel.disposed) return Promise.resolve(false);
    const copy = structuredClone(m);
    setImmediate(() => this.toPage?.(copy));
    return Promise.resolve(true);
  }
}

export class FakePanel {
  disposed = false;
  visible = true;
  iconPath: unknown;
  readonly webview = new FakeWebview(this);
  private readonly disposeEmitter = new Emitter<void>();
  constructor(readonly viewType: string, public title: string) {}
  onDidDispose = this.disposeEmitter.event;
  reveal() {}
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    this.webview.page?.client.dispose();
    this.disposeEmitter.fire();
  }
}

interface QuickPickItem { label: string; description?: string }

export const shim = {
  pages: [] as Page[],
  panels: [] as FakePanel[],
  commands: new Map<string, (...a: unknown[]) => unknown>(),
  executed: [] as { id: string; args: unknown[] }[],
  messages: [] as { level: 'info' | 'warn' | 'error'; text: string; detail?: string }[],
  config: {} as Record<string, unknown>,
  diagnostics: new Map<string, Diagnostic[]>(),
  codeLensProviders: [] as { provideCodeLenses(d: FakeDocument): CodeLens[]; onDidChangeCodeLenses?: (l: () => void) => unknown }[],
  documents: [] as FakeDocument[],
  serializers: new Map<string, { deserializeWebviewPanel(p: FakePanel, state: unknown): Promise<void> }>(),
  /** Which quick pick item to choose (by label), or undefined to cancel. */
  pick: (items: QuickPickItem[], _placeHolder?: string): QuickPickItem | undefined => items[0],
  inputBox: (): string | undefined => undefined,
  /** Answer for showErrorMessage/showInformationMessage buttons. */
  messageChoice: undefined as string | undefined,
  /** What the "person" does when a page shows data. */
  autopilot: (_page: Page, _data: unknown): void => {},
  reset() {
    for (const p of this.panels) p.dispose();
    this.pages = []; this.panels = []; this.commands.clear(); this.executed = []; this.messages = []; this.config = {};
    this.diagnostics.clear(); this.codeLensProviders = []; this.documents = [];
    this.serializers.clear();
    this.pick = (items) => items[0];
    this.inputBox = () => undefined;
    this.messageChoice = undefined;
    this.autopilot = () => {};
  },
};

const configChange = new Emitter<{ affectsConfiguration(s: string): boolean }>();

function message(level: 'info' | 'warn' | 'error') {
  return async (text: string, ...rest: unknown[]) => {
    const opts = rest[0] && typeof rest[0] === 'object' ? (rest[0] as { detail?: string }) : undefined;
    shim.messages.push({ level, text, detail: opts?.detail });
    return shim.messageChoice;
  };
}

export const window = {
  get activeTextEditor() { return undefined; },
  createWebviewPanel(viewType: string, title: string) {
    const p = new FakePanel(viewType, title);
    shim.panels.push(p);
    return p;
  },
  registerWebviewPanelSerializer(viewType: string, s: { deserializeWebviewPanel(p: FakePanel, state: unknown): Promise<void> }) {
    shim.serializers.set(viewType, s);
    return { dispose: () => shim.serializers.delete(viewType) };
  },
  async showQuickPick<T extends QuickPickItem>(items: T[] | Promise<T[]>, opts?: { placeHolder?: string }) {
    return shim.pick(await items, opts?.placeHolder) as T | undefined;
  },
  async showInputBox() { return shim.inputBox(); },
  async showTextDocument(u: Uri) { shim.executed.push({ id: 'showTextDocument', args: [u.fsPath] }); },
  showInformationMessage: message('info'),
  showWarningMessage: message('warn'),
  showErrorMessage: message('error'),
  async withProgress<R>(_o: unknown, task: (p: { report(v: unknown): void }, t: { isCancellationRequested: boolean; onCancellationRequested(l: () => void): { dispose(): void } }) => Promise<R>) {
    const cancel = new Emitter<void>();
    const token = { isCancellationRequested: false, onCancellationRequested: (l: () => void) => cancel.event(l) };
    (shim as { cancelProgress?: () => void }).cancelProgress = () => { token.isCancellationRequested = true; cancel.fire(); };
    return task({ report: () => {} }, token);
  },
};

export const documentEvents = {
  open: new Emitter<FakeDocument>(),
  change: new Emitter<{ document: FakeDocument; contentChanges: unknown[] }>(),
  save: new Emitter<FakeDocument>(),
  close: new Emitter<FakeDocument>(),
};

export const languages = {
  createDiagnosticCollection(_name: string) {
    return {
      set: (u: Uri, d: Diagnostic[]) => { shim.diagnostics.set(u.fsPath, d); },
      delete: (u: Uri) => { shim.diagnostics.delete(u.fsPath); },
      get: (u: Uri) => shim.diagnostics.get(u.fsPath),
      [Symbol.iterator]: function* () { for (const k of shim.diagnostics.keys()) yield [Uri.file(k), shim.diagnostics.get(k)]; },
      dispose: () => {},
    };
  },
  registerCodeLensProvider(_sel: unknown, p: (typeof shim.codeLensProviders)[number]) {
    shim.codeLensProviders.push(p);
    return { dispose: () => { shim.codeLensProviders = shim.codeLensProviders.filter((x) => x !== p); } };
  },
};

export const workspace = {
  get textDocuments() { return shim.documents; },
  onDidOpenTextDocument: documentEvents.open.event,
  onDidChangeTextDocument: documentEvents.change.event,
  onDidSaveTextDocument: documentEvents.save.event,
  onDidCloseTextDocument: documentEvents.close.event,
  getConfiguration(section: string) {
    const full = (k: string) => `${section}.${k}`;
    return {
      get: <T>(k: string, d?: T) => (full(k) in shim.config ? shim.config[full(k)] as T : d),
      inspect: (k: string) => ({ globalValue: shim.config[full(k)] }),
      update: async (k: string, v: unknown) => { shim.config[full(k)] = v; },
    };
  },
  onDidChangeConfiguration: configChange.event,
  getWorkspaceFolder: (_u: Uri) => undefined,
  async findFiles() { return []; },
  asRelativePath: (u: Uri) => u.fsPath,
};

export const commands = {
  registerCommand(id: string, fn: (...a: unknown[]) => unknown) {
    shim.commands.set(id, fn);
    return { dispose: () => shim.commands.delete(id) };
  },
  async executeCommand(id: string, ...args: unknown[]) {
    shim.executed.push({ id, args });
    return shim.commands.get(id)?.(...args);
  },
};

export const env = { openExternal: async (u: Uri) => { shim.executed.push({ id: 'openExternal', args: [u.toString()] }); return true; } };

/** Make `require('vscode')` return this module (tests run as CommonJS under tsx). */
export function installVscodeShim(): void {
  const M = Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string };
  const original = M._resolveFilename;
  const self = require.resolve('./vscode-shim');
  if ((M as { __vscodeShim?: boolean }).__vscodeShim) return;
  (M as { __vscodeShim?: boolean }).__vscodeShim = true;
  M._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? self : original.call(this, request, ...rest);
  };
}
