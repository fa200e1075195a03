import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { runJobs } from '../../../src/cli/commands/jobs';
import { runSubmit } from '../../../src/cli/commands/submit';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/io';
import { JobSchema, type Job } from '../../../src/core/jobs/schema';
import { capturedIo } from '../../support/captured-io';
import { git, userGitState } from '../../support/git';
import { harness, type Harness } from './fixtures';
import path from 'node:path';

function capture(h: Harness): CliIO & { out(): string; err(): string } {
  return capturedIo({ env: { PATH: process.env.PATH }, cwd: h.ws.workspace, dataHome: h.layout.home });
}

describe('cli: submit --snapshot records the configs in git (F14)', () => {
  let h: Harness;
  beforeEach(() => { h = harness(); });
  afterEach(() => h.dispose());

  /** The harness workspace as a repository with a commit, uncommitted config edits and a staged change. */
  function makeRepo(): void {
    const ws = h.ws.workspace;
    git(ws, 'init', '-q', '-b', 'main');
    git(ws, 'add', '.');
    git(ws, 'commit', '-q', '-m', 'initial');
    writeFileSync(h.ws.config, JSON.stringify({ '--max_train_steps': 200, '--data_backend_config': 'config/multidatabackend.json', '--output_dir': 'out', '--lora_rank': 64 }));
    writeFileSync(h.ws.dataloader, '[{"id": "cats", "type": "local", "instance_data_dir": "datasets/cats"}, {"id": "t", "type": "local", "dataset_type": "text_embeds", "default": true, "cache_dir": "cache/text"}]');
    git(ws, 'add', 'config/multidatabackend.json');
    writeFileSync(path.join(ws, 'notes.txt'), 'untracked');
  }

  it('records refs/cloud-training/<job> with the configs as on disk, stores it on the job, and leaves HEAD, index and work tree alone', async () => {
    makeRepo();
    const ws = h.ws.workspace;
    const before = userGitState(ws);

    const io = capture(h);
    assert.equal(await runSubmit(['--provider', 'local', '--config', h.ws.config, '--command', 'true', '--snapshot', '--yes', '--json'], io), 0, io.err());
    const printed = JobSchema.parse((JSON.parse(io.out()) as { job: unknown }).job);
    assert.equal(printed.snapshotRef, `refs/cloud-training/${printed.id}`, 'the printed job carries the ref');

    const job = (await h.history.get(printed.id))!;
    assert.equal(job.snapshotRef, printed.snapshotRef);
    const commit = git(ws, 'rev-parse', job.snapshotRef!).trim();
    assert.equal(job.metadata.snapshotCommit, commit);
    assert.equal(job.metadata.snapshotRepo, ws);
    assert.deepEqual(job.metadata.snapshotFiles, ['config/config.json', 'config/multidatabackend.json']);
    // The snapshot's tree holds the configs exactly as they were on disk (uncommitted edits included), on top of HEAD.
    assert.equal(git(ws, 'show', `${job.snapshotRef}:config/config.json`), JSON.stringify({ '--max_train_steps': 200, '--data_backend_config': 'config/multidatabackend.json', '--output_dir': 'out', '--lora_rank': 64 }));
    assert.match(git(ws, 'show', `${job.snapshotRef}:config/multidatabackend.json`), /"id": "cats"/);
    assert.equal(git(ws, 'rev-parse', `${commit}^`), before.head);
    assert.deepEqual(git(ws, 'ls-tree', '-r', '--name-only', job.snapshotRef!).trim().split('\n').filter((f) => f.startsWith('config/')), ['config/config.json', 'config/multidatabackend.json']);

    assert.deepEqual(userGitState(ws), before, 'HEAD, branch, status --porcelain and the index file are unchanged');
    assert.equal(git(ws, 'branch', '--list').trim(), '* main');

    // `cloudtrain jobs --json` shows the ref (and the commit in metadata).
    const list = capture(h);
    assert.equal(await runJobs(['--json', '--no-refresh'], list), 0);
    const listed = (JSON.parse(list.out()) as Job[]).find((j) => j.id === job.id)!;
    assert.equal(listed.snapshotRef, job.snapshotRef);
    assert.equal(listed.metadata.snapshotCommit, commit);

    // `cloudtrain jobs <id prefix>` shows the one job in full, the ref included.
    const one = capture(h);
    assert.equal(await runJobs([job.id.slice(0, 8), '--no-refresh'], one), 0);
    assert.match(one.out(), new RegExp(`^Job: +${job.id}  `, 'm'));
    assert.match(one.out(), new RegExp(`^Snapshot: +refs/cloud-training/${job.id}$`, 'm'));
    assert.match(one.out(), /^Provider: +local/m);
    assert.match(one.out(), new RegExp(`^Training config: +${h.ws.config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    const oneJson = capture(h);
    assert.equal(await runJobs([job.id, '--json', '--no-refresh'], oneJson), 0);
    assert.equal((JSON.parse(oneJson.out()) as Job).snapshotRef, job.snapshotRef);
    await assert.rejects(runJobs(['a', 'b'], capture(h)), /usage: cloudtrain jobs/);
  });

  it('follows cloudTraining.snapshots.enabled from the workspace settings; --no-snapshot overrides it', async () => {
    mkdirSync(path.join(h.ws.workspace, '.vscode'));
    writeFileSync(path.join(h.ws.workspace, '.vscode', 'settings.json'), '{ "cloudTraining.snapshots.enabled": true }');
    makeRepo();
    const before = userGitState(h.ws.workspace);

    const on = capture(h);
    assert.equal(await runSubmit(['--provider', 'local', '--config', h.ws.config, '--command', 'true', '--yes'], on), 0, on.err());
    const id = on.out().trim();
    assert.match(on.err(), new RegExp(`Config snapshot: refs/cloud-training/${id} \\([0-9a-f]{12}\\)`));
    assert.equal((await h.history.get(id))?.snapshotRef, `refs/cloud-training/${id}`);

    const off = capture(h);
    assert.equal(await runSubmit(['--provider', 'local', '--config', h.ws.config, '--command', 'true', '--yes', '--no-snapshot'], off), 0, off.err());
    const id2 = off.out().trim();
    assert.equal((await h.history.get(id2))?.snapshotRef, undefined);
    assert.equal(git(h.ws.workspace, 'for-each-ref', '--format=%(refname)', 'refs/cloud-training/').trim(), `refs/cloud-training/${id}`);
    assert.deepEqual(userGitState(h.ws.workspace), before);

    const both = capture(h);
    assert.equal(await main(['submit', '--provider', 'local', '--snapshot', '--no-snapshot'], both), 2);
    assert.match(both.err(), /--snapshot and --no-snapshot/);
  });

  it('outside a git repository: the job is submitted and one warning line says why there is no snapshot', async () => {
    const io = capture(h);
    assert.equal(await runSubmit(['--provider', 'local', '--config', h.ws.config, '--command', 'true', '--snapshot', '--yes'], io), 0, io.err());
    const id = io.out().trim();
    const warnings = io.err().split('\n').filter((l) => /snapshot/i.test(l));
    assert.equal(warnings.length, 1, io.err());
    assert.match(warnings[0]!, /^warning: no config snapshot: .* is not in a git repository$/);
    const job = (await h.history.get(id))!;
    assert.equal(job.snapshotRef, undefined);
    assert.notEqual(job.status, 'failed');
  });
});
