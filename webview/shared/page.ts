import { WebviewClient, vscodeEndpoint } from './client';
import { el } from './dom';
import type { ViewData, ViewKind } from './protocol';
import { registerToolkit } from './toolkit';

export type Render<V extends ViewKind> = (data: ViewData[V], client: WebviewClient<V>, kind: 'init' | 'update') => void;

/**
 * Boots a view: registers the toolkit, connects to the host (listener first, then `ready`), renders
 * every init/update into #app, and reports page errors to the host's log. `body[data-rendered]`
 * counts renders so tests and screenshots can wait for the data to be on screen.
 */
export function startPage<V extends ViewKind>(view: V, render: Render<V>): WebviewClient<V> {
  registerToolkit();
  const app = document.getElementById('app') ?? document.body.appendChild(el('main', {}));
  const client = new WebviewClient(view, vscodeEndpoint());
  window.addEventListener('error', (e) => client.log('error', `${e.message} (${e.filename}:${e.lineno})`));
  window.addEventListener('unhandledrejection', (e) => client.log('error', String((e as PromiseRejectionEvent).reason)));
  let renders = 0;
  client.onData((data, kind) => {
    try {
      render(data, client, kind);
      document.body.dataset.rendered = String(++renders);
    } catch (e) {
      app.replaceChildren(el('p', { className: 'error', text: `This view could not be drawn: ${(e as Error).message}` }));
      client.log('error', `render failed: ${(e as Error).stack ?? e}`);
    }
  });
  client.start();
  return client;
}

export function appRoot(): HTMLElement {
  return document.getElementById('app')!;
}

/** A one-line status under the buttons (answer sent, error...). */
export function status(text: string, kind: 'info' | 'error' = 'info'): HTMLElement {
  return el('p', { className: `status ${kind}`, text });
}
