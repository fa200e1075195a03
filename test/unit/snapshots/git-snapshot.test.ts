import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { git } from '../../support/git';
import { deleteSnapshot, listSnapshots, readSnapshotFile, snapshotConfigs, snapshotRefFor } from '../../../src/core/snapshots/git-snapshot';

describe('snapshots: configs recorded in git without touching the work tree', () => {
  let root: string;
  beforeEach(async () => {
    root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'ct-snap-')));
    git(root, 'init', '-q', '-b', 'main');
    await fs.mkdir(path.join(root, 'config'));
    await fs.writeFile(path.join(root, 'config/config.json'), '{"--model_type": "lora"}\n');
    await fs.writeFile(path.join(root, 'config/multidatabackend.json'), '[]\n');
    await fs.writeFile(path.join(root, 'README.md'), 'hi\n');
    git(root, 'add', '.');
    git(root, 'commit', '-q', '-m', 'initial');
  });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });

  it('commits the configs as they are on disk under refs/cloud-training/<job>; HEAD, branch, index and work tree unchanged', async () => {
    // Uncommitted edits, one of them staged: the snapshot must carry them, the user's state must not move.
    await fs.writeFile(path.join(root, 'config/config.json'), '{"--model_type": "lora", "--lora_rank": 64}\n');
    await fs.writeFile(path.join(root, 'config/multidatabackend.json'), '[{"id": "x"}]\n');
    git(root, 'add', 'config/multidatabackend.json');
    await fs.writeFile(path.join(root, 'untracked.txt'), 'u');
    const outside = path.join(os.tmpdir(), `ct-outside-${process.pid}.json`);
    await fs.writeFile(outside, '{"outside": true}');
    const before = { head: git(root, 'rev-parse', 'HEAD'), branch: git(root, 'symbolic-ref', 'HEAD'), status: git(root, 'status', '--porcelain'), index: await fs.readFile(path.join(root, '.git/index')) };

    const snap = await snapshotConfigs({ cwd: root, jobId: 'job 42/a', files: ['config/config.json', 'config/multidatabackend.json', outside] });
    await fs.rm(outside);
    assert.ok(snap);
    assert.equal(snap.ref, 'refs/cloud-training/job-42-a');
    assert.equal(snap.ref, snapshotRefFor('job 42/a'));
    assert.equal(git(root, 'rev-parse', snap.ref).trim(), snap.commit);
    assert.equal(git(root, 'rev-parse', `${snap.commit}^`), before.head, 'the snapshot sits on top of HEAD');
    assert.equal(await readSnapshotFile(root, snap.ref, 'config/config.json'), '{"--model_type": "lora", "--lora_rank": 64}\n');
    assert.equal(await readSnapshotFile(root, snap.ref, '.cloud-training/external/' + path.basename(outside)), '{"outside": true}');
    assert.equal(await readSnapshotFile(root, snap.ref, 'README.md'), 'hi\n', 'the rest of HEAD\'s tree is kept');
    assert.equal(git(root, 'diff', '--name-only', 'HEAD', snap.ref).trim().split('\n').sort().join(','), `.cloud-training/external/${path.basename(outside)},config/config.json,config/multidatabackend.json`);

    assert.equal(git(root, 'rev-parse', 'HEAD'), before.head);
    assert.equal(git(root, 'symbolic-ref', 'HEAD'), before.branch);
    assert.equal(git(root, 'status', '--porcelain'), before.status);
    assert.deepEqual(await fs.readFile(path.join(root, '.git/index')), before.index);
    assert.equal(git(root, 'branch', '--list').trim(), '* main');

    assert.deepEqual((await listSnapshots(root)).map((s) => s.ref), [snap.ref]);
    await deleteSnapshot(root, snap.ref);
    assert.deepEqual(await listSnapshots(root), []);
    await assert.rejects(deleteSnapshot(root, 'refs/heads/main'), /not a snapshot ref/);
  });

  it('works in a repository without commits, and returns undefined outside git', async () => {
    const fresh = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'ct-snap-fresh-')));
    try {
      git(fresh, 'init', '-q');
      await fs.writeFile(path.join(fresh, 'config.json'), '{}');
      const snap = await snapshotConfigs({ cwd: fresh, jobId: 'j1', files: ['config.json'] });
      assert.equal(await readSnapshotFile(fresh, snap!.ref, 'config.json'), '{}');
      assert.throws(() => git(fresh, 'rev-parse', '--verify', '-q', 'HEAD'));
      await fs.rm(path.join(fresh, '.git'), { recursive: true });
      assert.equal(await snapshotConfigs({ cwd: fresh, jobId: 'j2', files: ['config.json'] }), undefined);
    } finally {
      await fs.rm(fresh, { recursive: true, force: true });
    }
  });
});
