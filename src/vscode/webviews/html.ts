import { randomBytes } from 'node:crypto';
import type { ViewKind } from '../../../webview/shared/protocol';

export interface WebviewHtmlOptions {
  view: ViewKind;
  title: string;
  /** `webview.cspSource`: the only origin scripts, styles, fonts and images may come from. */
  cspSource: string;
  /** URI of dist/webview/<view>.js as the webview can load it. */
  scriptUri: string;
  /** URI of media/webview.css. */
  styleUri: string;
  nonce?: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

/** The Content-Security-Policy: nothing by default; our bundle by nonce; styles/images/fonts from the extension only. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    // Our CSS is a file; the toolkit adds one <style> carrying the nonce (read from meta csp-nonce)
    // and otherwise styles itself through constructable stylesheets. No 'unsafe-inline'.
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    "connect-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/**
 * The page of every Cloud Training webview: strict CSP, one nonce'd bundle, one stylesheet, an empty
 * #app that the bundle fills once the host answers its `ready`. No data is embedded in the HTML: it
 * all arrives through the validated message protocol.
 */
export function webviewHtml(o: WebviewHtmlOptions): string {
  const nonce = o.nonce ?? makeNonce();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(o.cspSource, nonce))}">
<meta property="csp-nonce" content="${nonce}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(o.styleUri)}">
<title>${escapeText(o.title)}</title>
</head>
<body data-view="${o.view}">
<main id="app" aria-live="polite"><p class="muted">Loading…</p></main>
<script nonce="${nonce}" src="${escapeAttr(o.scriptUri)}"></script>
</body>
</html>
`;
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}
