/** Tiny DOM helpers: text is always set with textContent (never innerHTML), so data cannot inject markup. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: { className?: string; text?: string; title?: string } = {}, ...children: (Node | string | undefined | false)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (props.className) e.className = props.className;
  if (props.text !== undefined) e.textContent = props.text;
  if (props.title) e.title = props.title;
  for (const c of children) if (c) e.append(c);
  return e;
}

/** A `<dl>` of label/value pairs, skipping empty values. */
export function facts(pairs: [string, string | Node | undefined][]): HTMLElement {
  const dl = el('dl', { className: 'facts' });
  for (const [k, v] of pairs) {
    if (v === undefined || v === '') continue;
    dl.append(el('dt', { text: k }), el('dd', {}, v));
  }
  return dl;
}

export function section(title: string, ...children: (Node | undefined | false)[]): HTMLElement {
  return el('section', {}, el('h2', { text: title }), ...children);
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Replace a root's content and show an error banner for problems inside the page. */
export function mount(root: HTMLElement, ...children: Node[]): void {
  root.replaceChildren(...children);
}

export { formatBytes, formatDuration, usd } from '../../src/core/format';
