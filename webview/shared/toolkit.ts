/**
 * The ONLY module that imports `@vscode/webview-ui-toolkit` (deprecated upstream since 2025-01).
 * Views build their controls through these helpers, so moving to `@vscode-elements/elements` (or
 * plain HTML) means rewriting this file and nothing else.
 */
// The package is ESM-only and tsconfig's Node16 mode treats our .ts as CommonJS; esbuild bundles it
// either way, so only the type checker needs telling.
// @ts-ignore TS1479 (CommonJS importing an ES module)
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeDataGrid, vsCodeDataGridCell, vsCodeDataGridRow, vsCodeDivider } from '@vscode/webview-ui-toolkit';

let registered = false;
export function registerToolkit(): void {
  if (registered) return;
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeDivider(), vsCodeDataGrid(), vsCodeDataGridRow(), vsCodeDataGridCell());
  registered = true;
}

export type ButtonAppearance = 'primary' | 'secondary' | 'icon';

export function button(label: string, opts: { appearance?: ButtonAppearance; onClick: () => void; id?: string; disabled?: boolean; title?: string }): HTMLElement {
  const b = document.createElement('vscode-button');
  b.textContent = label;
  b.setAttribute('appearance', opts.appearance ?? 'primary');
  if (opts.id) b.id = opts.id;
  if (opts.title) b.title = opts.title;
  if (opts.disabled) b.setAttribute('disabled', '');
  b.addEventListener('click', () => {
    if (!b.hasAttribute('disabled')) opts.onClick();
  });
  return b;
}

export function setDisabled(el: HTMLElement, disabled: boolean): void {
  if (disabled) el.setAttribute('disabled', '');
  else el.removeAttribute('disabled');
}

// Badges and tags are plain spans styled like the toolkit's: the toolkit's badge/tag (and progress
// ring) templates carry inline `style` attributes, which our CSP (no 'unsafe-inline') refuses.
export function badge(text: string): HTMLElement {
  const b = document.createElement('span');
  b.className = 'ct-badge';
  b.textContent = text;
  return b;
}

export function tag(text: string, className?: string): HTMLElement {
  const t = document.createElement('span');
  t.className = `ct-tag${className ? ` ${className}` : ''}`;
  t.textContent = text;
  return t;
}

export function divider(): HTMLElement {
  return document.createElement('vscode-divider');
}

/** A table of text cells (header row first). */
export function table(headers: string[], rows: string[][], opts: { columns?: string; label?: string } = {}): HTMLElement {
  const grid = document.createElement('vscode-data-grid');
  grid.setAttribute('generate-header', 'none');
  if (opts.columns) grid.setAttribute('grid-template-columns', opts.columns);
  if (opts.label) grid.setAttribute('aria-label', opts.label);
  const addRow = (cells: string[], header: boolean) => {
    const row = document.createElement('vscode-data-grid-row');
    if (header) row.setAttribute('row-type', 'header');
    cells.forEach((text, i) => {
      const cell = document.createElement('vscode-data-grid-cell');
      if (header) cell.setAttribute('cell-type', 'columnheader');
      cell.setAttribute('grid-column', String(i + 1));
      cell.textContent = text;
      row.appendChild(cell);
    });
    grid.appendChild(row);
  };
  addRow(headers, true);
  for (const r of rows) addRow(r, false);
  return grid;
}
