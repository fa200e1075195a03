import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConsentMemory } from '../../../src/core/consent/memory';
import { ConsentDeclinedError, ConsentRefusedError, decideConsent, type ConsentAnswer } from '../../../src/core/consent/policy';
import { consentSummaryText, type ConsentSummary } from '../../../src/core/consent/summary';

const summary: ConsentSummary = {
  provider: 'replicate', providerName: 'Replicate', destination: 'Replicate file storage', afterwards: 'deleted when the job ends',
  datasets: [{ id: 'pixel-art', root: '/w/datasets/pixel-art', files: 12, bytes: 3 * 1024 * 1024 }],
  excluded: [{ dataset: 'pixel-art', relPath: '.env', reason: 'sensitive file' }],
  totalFiles: 12, totalBytes: 3 * 1024 * 1024, uploadBytes: 2 * 1024 * 1024, reused: false,
};

describe('consent: policy', () => {
  let dir: string;
  let memory: ConsentMemory;
  let asked: number;
  const ask = (answer: ConsentAnswer) => async () => { asked++; return answer; };
  const fixed = () => new Date('2026-11-20T10:00:00Z');
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ct-consent-'));
    memory = new ConsentMemory(dir);
    asked = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('local jobs need no consent, even with policy never', async () => {
    const r = await decideConsent({ policy: 'never', uploadsData: false, summary: { ...summary, provider: 'local' }, memory, ask: ask('cancel'), now: fixed });
    assert.equal(r.decision, 'not-required');
    assert.equal(r.destination, undefined);
    assert.equal(asked, 0);
  });

  it('never refuses a cloud submission with a message that says how to change it', async () => {
    await assert.rejects(decideConsent({ policy: 'never', uploadsData: true, summary, memory, ask: ask('once') }), (e: Error) => {
      assert.ok(e instanceof ConsentRefusedError);
      assert.match(e.message, /cloudTraining\.uploadConsent is "never"/);
      assert.match(e.message, /Local jobs still work/);
      return true;
    });
    assert.equal(asked, 0);
  });

  it('allow records the setting as the reason without asking', async () => {
    const r = await decideConsent({ policy: 'allow', uploadsData: true, summary, memory, ask: ask('cancel'), now: fixed });
    assert.equal(r.decision, 'setting-allow');
    assert.equal(r.at, '2026-11-20T10:00:00.000Z');
    assert.deepEqual(r.datasets, [{ id: 'pixel-art', files: 12, bytes: 3 * 1024 * 1024 }]);
    assert.equal(r.excludedCount, 1);
    assert.equal(asked, 0);
  });

  it('ask: once asks every time; cancel declines', async () => {
    assert.equal((await decideConsent({ policy: 'ask', uploadsData: true, summary, workspace: dir, memory, ask: ask('once') })).decision, 'once');
    assert.equal((await decideConsent({ policy: 'ask', uploadsData: true, summary, workspace: dir, memory, ask: ask('once') })).decision, 'once');
    assert.equal(asked, 2);
    await assert.rejects(decideConsent({ policy: 'ask', uploadsData: true, summary, workspace: dir, memory, ask: ask('cancel') }), ConsentDeclinedError);
  });

  it('ask: "always allow" is remembered for this workspace and provider only, across instances (CLI and editor)', async () => {
    const ws = path.join(dir, 'ws');
    const r = await decideConsent({ policy: 'ask', uploadsData: true, summary, workspace: ws, memory, ask: ask('always') });
    assert.equal(r.decision, 'always-workspace');
    const again = await decideConsent({ policy: 'ask', uploadsData: true, summary, workspace: ws, memory: new ConsentMemory(dir), ask: ask('cancel') });
    assert.equal(again.decision, 'always-workspace');
    assert.equal(asked, 1);
    // Another workspace or another provider is asked again.
    await assert.rejects(decideConsent({ policy: 'ask', uploadsData: true, summary, workspace: path.join(dir, 'other'), memory, ask: ask('cancel') }), ConsentDeclinedError);
    await assert.rejects(decideConsent({ policy: 'ask', uploadsData: true, summary: { ...summary, provider: 'ssh' }, workspace: ws, memory, ask: ask('cancel') }), ConsentDeclinedError);
    assert.equal(asked, 3);
    await memory.forget('replicate', ws);
    await assert.rejects(decideConsent({ policy: 'ask', uploadsData: true, summary, workspace: ws, memory, ask: ask('cancel') }), ConsentDeclinedError);
  });

  it('a damaged memory file means "ask again", never "allowed"', async () => {
    writeFileSync(memory.file, '{"version":1,"alwaysAllow":');
    assert.equal(await memory.isAlwaysAllowed('replicate', dir), false);
  });

  it('an answer outside the protocol is rejected', async () => {
    await assert.rejects(decideConsent({ policy: 'ask', uploadsData: true, summary, memory, ask: async () => 'yes please' as ConsentAnswer }));
  });

  it('a cancelled signal stops before asking', async () => {
    const c = new AbortController();
    c.abort();
    await assert.rejects(decideConsent({ policy: 'ask', uploadsData: true, summary, memory, ask: ask('once'), signal: c.signal }), { name: 'AbortError' });
    assert.equal(asked, 0);
  });

  it('the terminal summary lists datasets, sizes, exclusions and destination', () => {
    const t = consentSummaryText(summary);
    for (const s of ['pixel-art: 12 files, 3.0 MB', '.env: sensitive file', 'Destination: Replicate file storage', 'upload 2.0 MB', 'Afterwards: deleted']) assert.ok(t.includes(s), s);
  });
});
