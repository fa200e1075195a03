import * as vscode from 'vscode';
import type { ViewData, ViewKind } from '../../../webview/shared/protocol';
import type { ExtensionServices } from '../services';
import { HostChannel } from './channel';
import { webviewHtml } from './html';

export interface ViewPanel<V extends ViewKind> {
  panel: vscode.WebviewPanel;
  channel: HostChannel<V>;
}

/** Options every Cloud Training panel uses: scripts on, and only our bundle and CSS folders readable. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    enableCommandUris: false,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

/**
 * Puts one of our views into a panel (new, or restored by a serializer): HTML with a strict CSP and
 * a fresh nonce, and a validated message channel whose `init` carries `data()`. The channel is
 * disposed with the panel.
 */
export function attachView<V extends ViewKind>(
  services: ExtensionServices,
  panel: vscode.WebviewPanel,
  view: V,
  data: () => ViewData[V] | Promise<ViewData[V]>,
): ViewPanel<V> {
  const { extensionUri } = services.context;
  const webview = panel.webview;
  webview.options = webviewOptions(extensionUri);
  const channel = new HostChannel(view, {
    post: (m) => webview.postMessage(m),
    listen: (h) => webview.onDidReceiveMessage(h),
  }, {
    data,
    log: (level, message) => services.log[level](message),
  });
  webview.html = webviewHtml({
    view,
    title: panel.title,
    cspSource: webview.cspSource,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', `${view}.js`)).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'webview.css')).toString(),
  });
  panel.onDidDispose(() => channel.dispose());
  return { panel, channel };
}

export function openViewPanel<V extends ViewKind>(
  services: ExtensionServices,
  opts: { viewType: string; view: V; title: string; column?: vscode.ViewColumn; data: () => ViewData[V] | Promise<ViewData[V]> },
): ViewPanel<V> {
  const panel = vscode.window.createWebviewPanel(opts.viewType, opts.title, { viewColumn: opts.column ?? vscode.ViewColumn.Active, preserveFocus: false },
    webviewOptions(services.context.extensionUri));
  panel.iconPath = vscode.Uri.joinPath(services.context.extensionUri, 'media', 'cloud-training.svg');
  return attachView(services, panel, opts.view, opts.data);
}
