import assert from 'node:assert/strict';
import { HostChannel, type HostEndpoint } from '../../../src/vscode/webviews/channel';
import { contentSecurityPolicy, makeNonce, webviewHtml } from '../../../src/vscode/webviews/html';
import { WebviewClient, type Endpoint } from '../../../webview/shared/client';
import { parseHostMessage, parseWebviewMessage, type HostMessage, type WebviewMessage } from '../../../webview/shared/protocol';
import { sampleConsent, sampleCost, sampleJob } from './samples';

/** Two ends joined like postMessage: asynchronous, structured-cloned, in order. */
function pipe() {
  const toHost: ((d: unknown) => void)[] = [];
  const toPage: ((d: unknown) => void)[] = [];
  const hostSent: HostMessage[] = [];
  const pageSent: WebviewMessage[] = [];
  const deliver = (to: ((d: unknown) => void)[], m: unknown) => setImmediate(() => { for (const h of [...to]) h(structuredClone(m)); });
  const host: HostEndpoint & { raw(m: unknown): void } = {
    post: (m) => { hostSent.push(m); deliver(toPage, m); return true; },
    listen: (h) => { toHost.push(h); return { dispose: () => toHost.splice(toHost.indexOf(h), 1) }; },
    raw: (m) => deliver(toPage, m),
  };
  const page: Endpoint & { raw(m: unknown): void } = {
    post: (m) => { pageSent.push(m); deliver(toHost, m); },
    listen: (h) => { toPage.push(h); return () => toPage.splice(toPage.indexOf(h), 1); },
    raw: (m) => deliver(toHost, m),
  };
  return { host, page, hostSent, pageSent };
}

const tick = () => new Promise((r) => setTimeout(r, 5));
/** Waits (bounded) for something that crosses the pipe twice (page → host), which one tick may not cover under load. */
async function eventually(cond: () => boolean, ms = 2000): Promise<boolean> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end;) await tick();
  return cond();
}

describe('webview protocol', () => {
  it('ready handshake: the host posts nothing before ready, then init with the current data', async () => {
    const p = pipe();
    const logs: string[] = [];
    const data = sampleJob();
    const host = new HostChannel('job', p.host, { data: () => data, log: (_l, m) => logs.push(m) });
    host.update(data); // before ready: dropped, not queued out of order
    await tick();
    assert.equal(p.hostSent.length, 0);
    const got: string[] = [];
    const client = new WebviewClient('job', p.page).onData((d, kind) => got.push(`${kind}:${d.job.progress.step}`)).start();
    await host.whenReady();
    await tick();
    assert.deepEqual(got, ['init:600']);
    host.update({ ...data, job: { ...data.job, progress: { ...data.job.progress, step: 610 } } });
    await tick();
    assert.deepEqual(got, ['init:600', 'update:610']);
    // A reload of the page (hidden panel shown again) says ready again and gets init again.
    client.start();
    await tick();
    assert.deepEqual(got, ['init:600', 'update:610', 'init:600']);
    assert.equal(p.hostSent.filter((m) => m.type === 'init').length, 2);
    assert.deepEqual(logs, []);
    client.dispose();
    host.dispose();
  });

  it('replies are matched to their requests by id, even out of order, and errors reach the caller', async () => {
    const p = pipe();
    const host = new HostChannel('job', p.host, { data: sampleJob, log: () => {} });
    let releaseSlow!: () => void;
    host.handle('job.cancel', async ({ jobId }) => {
      if (jobId === 'slow') await new Promise<void>((r) => (releaseSlow = r));
      if (jobId === 'bad') throw new Error('Job bad is already finished');
      return { status: `cancelled ${jobId}` };
    });
    const client = new WebviewClient('job', p.page).start();
    await host.whenReady();
    const slow = client.request('job.cancel', { jobId: 'slow' });
    const fast = client.request('job.cancel', { jobId: 'fast' });
    const bad = client.request('job.cancel', { jobId: 'bad' });
    assert.deepEqual(await fast, { status: 'cancelled fast' });
    await assert.rejects(bad, /already finished/);
    releaseSlow();
    assert.deepEqual(await slow, { status: 'cancelled slow' });
    const replies = p.hostSent.filter((m) => m.type === 'reply').map((m) => m.id);
    assert.deepEqual(replies, [2, 3, 1]);
    // A method this view does not handle gets an error reply, not silence.
    await assert.rejects(client.request('consent.answer', { answer: 'once' }), /not available in this view/);
    client.dispose();
    host.dispose();
  });

  it('the host rejects bad messages from the page with a logged reason and keeps working', async () => {
    const p = pipe();
    const logs: string[] = [];
    let answers = 0;
    const host = new HostChannel('consent', p.host, { data: sampleConsent, log: (l, m) => logs.push(`${l}: ${m}`) });
    host.handle('consent.answer', () => { answers++; return { accepted: true }; });
    for (const bad of [
      null, 'ready', { type: 'hello' }, { type: 'ready', view: 'nope' },
      { type: 'request', id: -1, method: 'consent.answer', params: { answer: 'once' } },
      { type: 'request', id: 7, method: 'shell.exec', params: { cmd: 'rm -rf /' } },
      { type: 'request', id: 8, method: 'consent.answer', params: { answer: 'yes please' } },
      { type: 'log', level: 'error', message: 'x'.repeat(5000) },
    ]) p.page.raw(bad);
    await tick();
    assert.equal(answers, 0);
    assert.equal(p.hostSent.length, 0, 'no reply to an invalid request');
    assert.equal(logs.length, 8);
    assert.ok(logs.every((l) => l.startsWith('warn: consent view: bad ')), logs.join('\n'));
    assert.ok(logs.some((l) => /method: Invalid option/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /bad params for consent.answer \(request 8\): answer/.test(l)), logs.join('\n'));
    // A ready from another kind of page is ignored (and logged).
    p.page.raw({ type: 'ready', view: 'job' });
    await tick();
    assert.equal(host.ready, false);
    assert.match(logs.at(-1)!, /ready from a "job" page/);
    const client = new WebviewClient('consent', p.page).start();
    assert.deepEqual(await client.request('consent.answer', { answer: 'always' }), { accepted: true });
    client.dispose();
    host.dispose();
  });

  it('the page rejects bad host messages with a reason, tells the host, and ignores stray replies', async () => {
    const p = pipe();
    const hostLogs: string[] = [];
    const pageLogs: string[] = [];
    const host = new HostChannel('cost', p.host, { data: () => sampleCost(), log: (_l, m) => hostLogs.push(m) });
    let inits = 0;
    const client = new WebviewClient('cost', p.page, { log: (_l, m) => pageLogs.push(m) }).onData(() => inits++).start();
    await host.whenReady();
    await tick();
    assert.equal(inits, 1);
    p.host.raw({ type: 'init', view: 'cost', data: { estimate: 'cheap' } });
    p.host.raw({ type: 'update', view: 'job', data: sampleJob() });
    p.host.raw({ type: 'reply', id: 99, ok: true, result: {} });
    p.host.raw({ type: 'reply', id: 'x', ok: true });
    await tick();
    assert.equal(inits, 1, 'bad data never reaches the view');
    assert.equal(client.rejected.length, 4);
    assert.match(client.rejected[0]!, /bad cost data in init: estimate/);
    assert.match(client.rejected[1]!, /update for view "job" sent to the cost view/);
    assert.match(client.rejected[2]!, /reply to unknown request 99/);
    assert.ok(await eventually(() => hostLogs.some((l) => /cost view: bad cost data in init/.test(l))), 'the page reports rejections to the host log');
    client.dispose();
    host.dispose();
  });

  it('a request with no reply times out; closing the view fails pending requests', async () => {
    const p = pipe();
    const client = new WebviewClient('cost', p.page, { timeoutMs: 50 }).start();
    await assert.rejects(client.request('cost.confirm', { proceed: true }), /No reply to cost.confirm within 50 ms/);
    const pending = client.request('cost.confirm', { proceed: false });
    client.dispose();
    await assert.rejects(pending, /closed/);
  });

  it('parse functions validate every view\'s sample data', () => {
    for (const [view, data] of [['consent', sampleConsent()], ['cost', sampleCost()], ['job', sampleJob()]] as const) {
      const r = parseHostMessage({ type: 'init', view, data }, view);
      assert.ok(r.ok, r.ok ? '' : r.reason);
    }
    assert.equal(parseWebviewMessage({ type: 'request', id: 1, method: 'job.openOutput', params: { jobId: 'a' } }).ok, false);
  });
});

describe('webview html', () => {
  it('has a strict CSP: nothing by default, the bundle only by nonce, no inline or eval', () => {
    const html = webviewHtml({ view: 'job', title: 'a <b> & "c"', cspSource: 'vscode-webview://x', scriptUri: 'vscode-webview://x/job.js', styleUri: 'vscode-webview://x/webview.css', nonce: 'abc123' });
    const csp = contentSecurityPolicy('vscode-webview://x', 'abc123');
    assert.ok(html.includes(`content="${csp}"`));
    assert.match(csp, /^default-src 'none'; script-src 'nonce-abc123'; style-src vscode-webview:\/\/x 'nonce-abc123';/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.match(html, /<script nonce="abc123" src="vscode-webview:\/\/x\/job.js"><\/script>/);
    assert.equal((html.match(/<script/g) ?? []).length, 1, 'one script, and no data inlined into the page');
    assert.match(html, /<title>a &lt;b> &amp; "c"<\/title>/);
    assert.notEqual(makeNonce(), makeNonce());
    assert.match(makeNonce(), /^[A-Za-z0-9]{16,}$/);
  });
});
