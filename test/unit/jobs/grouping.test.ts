import assert from 'node:assert/strict';
import { groupJobs } from '../../../src/core/jobs/grouping';
import { newJob } from '../../../src/core/jobs/factory';
import type { Job, JobStatus } from '../../../src/core/jobs/schema';
import { dataLayout } from '../../../src/core/paths';

const layout = dataLayout('/tmp/ct-grouping');
const job = (status: JobStatus, minute: number): Job => ({ ...newJob(layout, { provider: 'local', name: `${status}-${minute}` }, new Date(Date.UTC(2026, 0, 1, 0, minute))), status });

describe('job grouping', () => {
  it('groups by status in display order, newest first, and skips empty groups', () => {
    const groups = groupJobs([job('succeeded', 1), job('running', 2), job('uploading', 3), job('failed', 4), job('succeeded', 5)]);
    assert.deepEqual(groups.map((g) => g.id), ['running', 'succeeded', 'failed']);
    assert.deepEqual(groups[0]!.jobs.map((j) => j.name), ['uploading-3', 'running-2']);
    assert.deepEqual(groups[1]!.jobs.map((j) => j.name), ['succeeded-5', 'succeeded-1']);
  });

  it('places every status in exactly one group', () => {
    const all: JobStatus[] = ['uploading', 'queued', 'starting', 'running', 'succeeded', 'failed', 'cancelled'];
    const groups = groupJobs(all.map((s, i) => job(s, i)));
    assert.equal(groups.reduce((n, g) => n + g.jobs.length, 0), all.length);
    assert.deepEqual(groups.map((g) => g.label), ['Running', 'Queued', 'Finished', 'Failed', 'Cancelled']);
  });
});
