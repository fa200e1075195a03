import '../shared/zod-config'; // first: before any schema is parsed
import type { ConsentAnswer } from '../../src/core/consent/policy';
import { el, facts, formatBytes, section } from '../shared/dom';
import { appRoot, startPage, status } from '../shared/page';
import { button, setDisabled, table, tag } from '../shared/toolkit';

/** F4: what leaves the machine, where it goes, what happens to it; upload once / always / cancel. */
startPage('consent', (data, client) => {
  const s = data.summary;
  // Fine-tune JSONL files (one file per entry, with line counts) rather than dataset folders.
  const jsonl = s.datasets.some((d) => d.lines !== undefined);
  const root = appRoot();
  const feedback = el('div', { className: 'feedback' });
  const buttons: HTMLElement[] = [];
  const answer = async (a: ConsentAnswer) => {
    buttons.forEach((b) => setDisabled(b, true));
    feedback.replaceChildren(status(a === 'cancel' ? 'Cancelling…' : 'Starting the upload…'));
    try {
      await client.request('consent.answer', { answer: a });
      feedback.replaceChildren(status(a === 'cancel' ? 'Cancelled: nothing was uploaded.' : a === 'always' ? 'Allowed for this workspace. You can close this tab.' : 'Allowed once. You can close this tab.'));
    } catch (e) {
      buttons.forEach((b) => setDisabled(b, false));
      feedback.replaceChildren(status((e as Error).message, 'error'));
    }
  };
  buttons.push(
    button('Upload once', { id: 'upload-once', onClick: () => void answer('once') }),
    button('Always allow for this workspace', { id: 'always-allow', appearance: 'secondary', disabled: !data.canAlwaysAllow, title: data.canAlwaysAllow ? '' : 'Open a workspace folder to remember this choice', onClick: () => void answer('always') }),
    button('Cancel', { id: 'cancel', appearance: 'secondary', onClick: () => void answer('cancel') }),
  );

  root.replaceChildren(
    el('header', {},
      el('h1', { text: `Upload to ${s.providerName}?` }),
      el('p', { className: 'lead', text: jsonl
        ? `${s.totalFiles} file${s.totalFiles === 1 ? '' : 's'} (${formatBytes(s.totalBytes)}) will leave this machine.`
        : `${s.totalFiles} files (${formatBytes(s.totalBytes)}) from ${s.datasets.length} dataset${s.datasets.length === 1 ? '' : 's'} will leave this machine.` }),
      s.reused ? tag('Already uploaded once: the same package will not be sent again', 'ok') : undefined,
    ),
    section('Destination', facts([
      ['Provider', s.providerName],
      ['Where the data goes', s.destination],
      ['Upload size', s.uploadBytes !== undefined ? `${formatBytes(s.uploadBytes)} (${s.dataRoute ? (s.dataRoute.route === 'archive' ? 'archive to Replicate' : 'datasets to the bucket') : jsonl ? 'the files as they are' : 'compressed package'})` : undefined],
      ['Afterwards', s.afterwards],
    ])),
    ...(s.dataRoute ? [section('How the trainer gets the data', el('div', { className: 'data-route' },
      el('p', { className: 'lead', text: s.dataRoute.title }),
      ...s.dataRoute.detail.map((d) => el('p', { text: d })),
      s.dataRoute.changes.length ? el('p', { text: 'What the trainer does differently from your dataloader config:' }) : undefined,
      s.dataRoute.changes.length ? el('ul', {}, ...s.dataRoute.changes.map((c) => el('li', { className: 'change', text: c }))) : undefined,
      s.dataRoute.credentials ? facts([['Credentials in the job', s.dataRoute.credentials]]) : undefined,
    ))] : []),
    section(jsonl ? 'Files' : 'Datasets',
      s.datasets.length
        ? s.datasets.some((d) => d.lines !== undefined)
          // Fine-tune JSONL files: one file each, so the line count says more than a file count.
          ? table(['File', 'Folder', 'Lines', 'Size'], s.datasets.map((d) => [d.id, d.root, (d.lines ?? 0).toLocaleString('en-US'), formatBytes(d.bytes)]), { columns: '1fr 3fr 100px 90px', label: 'Files to upload' })
          : table(['Dataset', 'Folder', 'Files', 'Size'], s.datasets.map((d) => [d.id, d.root, String(d.files), formatBytes(d.bytes)]), { columns: '1fr 3fr 80px 90px', label: 'Datasets to upload' })
        : el('p', { className: 'muted', text: 'No local datasets: only the configuration files are sent.' }),
    ),
    section(`Not included (${s.excluded.length})`,
      s.excluded.length
        ? table(['Dataset', 'File', 'Why'], s.excluded.map((x) => [x.dataset, x.relPath, x.reason]), { columns: '1fr 2fr 2fr', label: 'Files left out' })
        : el('p', { className: 'muted', text: 'Nothing was left out.' }),
    ),
    el('div', { className: 'actions' }, ...buttons),
    feedback,
  );
});
