import * as vscode from 'vscode';
import { parseDataloaderConfig } from '../../core/config/dataloader';
import { datasetLocalStats, type DatasetStats, type StatsCache } from '../../core/config/stats';
import { formatBytes } from '../../core/format';
import { Disposable } from '../disposable';
import { positionAt } from './ranges';

interface Counted { version: number; stats: DatasetStats[] }

/**
 * CodeLens on dataloader configs: "N datasets · M files · X GB local" above the file with Package /
 * Estimate cost / Submit… actions, and each dataset's own count above it. Counting runs in the
 * background through the shared StatsCache (async, batched, cancellable); until it is done the lenses
 * say "counting…", and they refresh when it finishes or the watcher reports changes on disk.
 */
export class DataloaderCodeLensProvider extends Disposable implements vscode.CodeLensProvider {
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly counted = new Map<string, Counted>();
  private readonly counting = new Map<string, number>();
  private readonly abort = new AbortController();

  constructor(private readonly cache: StatsCache, private readonly log: vscode.LogOutputChannel) {
    super();
    this._register({ dispose: () => this.abort.abort() });
  }

  /** Forget counts (the watcher saw a change); lenses ask again. */
  refresh(): void {
    this.counted.clear();
    this.changed.fire();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const text = doc.getText();
    const parsed = parseDataloaderConfig(text, doc.uri.fsPath);
    const top = new vscode.Range(0, 0, 0, 0);
    const key = doc.uri.toString();
    const done = this.counted.get(key);
    if (!done || done.version !== doc.version) this.count(key, doc.version, parsed);
    const stats = done?.stats;

    const n = parsed.datasets.length;
    let summary = `${n} dataset${n === 1 ? '' : 's'}`;
    if (stats) {
      const local = stats.filter((s) => s.local && !s.missing);
      const files = local.reduce((a, s) => a + s.files, 0);
      const bytes = local.reduce((a, s) => a + s.bytes, 0);
      summary += ` · ${files.toLocaleString('en-US')} files · ${formatBytes(bytes)} local`;
    } else summary += ' · counting files…';

    const arg = [doc.uri];
    const lenses = [
      new vscode.CodeLens(top, { title: summary, command: '', tooltip: 'Files and bytes that packaging would upload (secrets and excluded files not counted)' }),
      new vscode.CodeLens(top, { title: '$(package) Package', command: 'cloudTraining.packageDataset', arguments: arg }),
      new vscode.CodeLens(top, { title: '$(graph) Estimate cost', command: 'cloudTraining.estimateCost', arguments: arg }),
      new vscode.CodeLens(top, { title: '$(rocket) Submit…', command: 'cloudTraining.submit', arguments: arg }),
    ];
    for (const ds of parsed.datasets) {
      const at = positionAt(text, ds.offset);
      const s = stats?.find((x) => x.index === ds.index);
      lenses.push(new vscode.CodeLens(new vscode.Range(at, at), { title: datasetTitle(ds.id ?? `#${ds.index + 1}`, ds.disabled, ds.type, s, !!stats), command: '' }));
    }
    return lenses;
  }

  private count(key: string, version: number, parsed: ReturnType<typeof parseDataloaderConfig>): void {
    if (this.counting.get(key) === version) return;
    this.counting.set(key, version);
    const root = vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(key))?.uri.fsPath;
    datasetLocalStats(parsed, { cache: this.cache, signal: this.abort.signal, workspaceRoot: root }).then((stats) => {
      if (this.counting.get(key) !== version) return;
      this.counting.delete(key);
      this.counted.set(key, { version, stats });
      this.changed.fire();
    }, (e) => {
      this.counting.delete(key);
      if ((e as Error).name !== 'AbortError') this.log.warn(`counting datasets of ${key}: ${(e as Error).message}`);
    });
  }
}

function datasetTitle(id: string, disabled: boolean, type: string, s: DatasetStats | undefined, ready: boolean): string {
  if (disabled) return `${id}: disabled`;
  if (type !== 'local') return `${id}: ${type} (not packaged)`;
  if (!ready) return `${id}: counting…`;
  if (!s?.local) return `${id}: no local files`;
  if (s.missing) return `${id}: $(warning) folder not found`;
  const excluded = s.excluded ? ` · ${s.excluded} excluded` : '';
  return `${id}: ${s.files.toLocaleString('en-US')} files · ${formatBytes(s.bytes)}${excluded}`;
}
