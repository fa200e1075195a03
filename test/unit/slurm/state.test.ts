import assert from 'node:assert/strict';
import { parseSbatchParsable } from '../../../src/providers/slurm/commands';
import {
  isActiveSlurmState, mapSlurmState, parseSacct, parseScontrolJob, parseSlurmDuration, parseSqueue, toStatusUpdate,
} from '../../../src/providers/slurm/state';

describe('slurm states', () => {
  it('maps every Slurm state the issue names onto our statuses', () => {
    const table: Array<[string, string, RegExp | undefined]> = [
      ['PENDING', 'queued', /^Pending$/],
      ['CONFIGURING', 'starting', /configured/],
      ['RUNNING', 'running', undefined],
      ['COMPLETING', 'running', /Completing/],
      ['COMPLETED', 'succeeded', undefined],
      ['FAILED', 'failed', /^Failed/],
      ['CANCELLED', 'cancelled', /^Cancelled$/],
      ['CANCELLED by 1000', 'cancelled', /^Cancelled by uid 1000$/],
      ['TIMEOUT', 'failed', /Time limit/],
      ['NODE_FAIL', 'failed', /node failed/],
      ['PREEMPTED', 'failed', /Preempted/],
      ['OUT_OF_MEMORY', 'failed', /Out of memory/],
      ['BOOT_FAIL', 'failed', /boot/],
      ['DEADLINE', 'failed', /Deadline/],
      ['REQUEUED', 'queued', /requeued/],
      ['SUSPENDED', 'running', /Suspended/],
    ];
    for (const [state, status, detail] of table) {
      const m = mapSlurmState(state);
      assert.equal(m.status, status, state);
      if (detail) assert.match(m.detail ?? '', detail, state);
      else assert.equal(m.detail, undefined, state);
    }
    assert.equal(isActiveSlurmState('RUNNING'), true);
    assert.equal(isActiveSlurmState('CANCELLED by 0'), false);
    assert.equal(isActiveSlurmState('COMPLETED'), false);
  });

  it('explains pending reasons and failures', () => {
    assert.equal(mapSlurmState('PENDING', 'Resources').detail, 'Pending: Resources — waiting for free nodes/GPUs');
    assert.equal(mapSlurmState('PENDING', 'Priority').detail, 'Pending: Priority — jobs with higher priority are ahead in the queue');
    assert.match(mapSlurmState('PENDING', 'ReqNodeNotAvail, UnavailableNodes:ghost').detail!, /^Pending: ReqNodeNotAvail, UnavailableNodes:ghost — requested nodes/);
    assert.equal(mapSlurmState('PENDING', 'SomethingNew').detail, 'Pending: SomethingNew');
    assert.equal(mapSlurmState('PENDING', 'None').detail, 'Pending');
    assert.equal(mapSlurmState('FAILED', 'NonZeroExitCode', '3:0').detail, 'Failed: exit code 3');
    assert.equal(mapSlurmState('FAILED', undefined, '0:9').detail, 'Failed: killed by signal 9');
  });
});

describe('slurm command output parsing', () => {
  it('reads squeue lines (format %i|%T|%S|%e|%M|%D|%N|%r, epoch times)', () => {
    const out = [
      '7|TIMEOUT|1795434161|1795434231|1:10|1|vm|TimeLimit',
      '6|PENDING|N/A|N/A|0:00|2||Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions',
      '',
    ].join('\n');
    const p = parseSqueue(out, '6')!;
    assert.equal(p.state, 'PENDING');
    assert.equal(p.start, undefined);
    assert.equal(p.nodes, 2);
    assert.match(p.reason!, /^Nodes required for job are DOWN, DRAINED/);
    const t = parseSqueue(out, '7')!;
    assert.deepEqual([t.state, t.start, t.end, t.elapsedSeconds, t.nodeList, t.reason], ['TIMEOUT', 1795434161, 1795434231, 70, 'vm', 'TimeLimit']);
    assert.equal(parseSqueue(out, '8'), undefined);
    assert.equal(parseSqueue(out, '1'), undefined, 'an id that is a prefix of none');
  });

  it('reads sacct -P rows, the last row of a requeued job winning', () => {
    const out = [
      '42|NODE_FAIL|0:0|1795430000|1795430100|100|2|gpu[01-02]|None',
      '42|CANCELLED by 1000|0:15|1795431000|1795431600|600|2|gpu[03-04]|None',
    ].join('\n');
    const a = parseSacct(out, '42')!;
    assert.equal(a.state, 'CANCELLED by 1000');
    assert.equal(a.elapsedSeconds, 600);
    assert.equal(a.nodeList, 'gpu[03-04]');
    assert.equal(mapSlurmState(a.state, a.reason, a.exitCode).detail, 'Cancelled by uid 1000');
    assert.equal(parseSacct('Slurm accounting storage is disabled\n', '42'), undefined);
    const oom = parseSacct('43|OUT_OF_MEMORY|0:125|1795431000|1795431060|60|1|n1|OutOfMemory', '43')!;
    assert.equal(mapSlurmState(oom.state).status, 'failed');
  });

  it('reads scontrol show job -o, whose values may contain spaces', () => {
    const line = 'JobId=6 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901754 Nice=0 Account=(null) QOS=(null) ' +
      'JobState=PENDING Reason=ReqNodeNotAvail, UnavailableNodes:ghost Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ' +
      'ExitCode=0:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=1795434147 StartTime=Unknown EndTime=Unknown ' +
      'Partition=wide AllocNode:Sid=localhost:7942 NodeList= NumNodes=2 NumCPUs=2';
    const s = parseScontrolJob(line, '6')!;
    assert.deepEqual([s.state, s.reason, s.exitCode, s.start, s.nodes, s.nodeList], ['PENDING', 'ReqNodeNotAvail, UnavailableNodes:ghost', '0:0', undefined, 2, undefined]);
    const done = parseScontrolJob('JobId=5 JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 RunTime=00:01:02 StartTime=1795434141 EndTime=1795434203 NodeList=vm NumNodes=1', '5')!;
    assert.deepEqual([done.state, done.exitCode, done.elapsedSeconds, done.end], ['FAILED', '3:0', 62, 1795434203]);
    assert.equal(parseScontrolJob(line, '60'), undefined);
  });

  it('reads durations and sbatch --parsable', () => {
    assert.equal(parseSlurmDuration('0:03'), 3);
    assert.equal(parseSlurmDuration('1:02:03'), 3723);
    assert.equal(parseSlurmDuration('2-01:00:00'), 176400);
    assert.equal(parseSlurmDuration('INVALID'), undefined);
    assert.equal(parseSbatchParsable('1234\n'), '1234');
    assert.equal(parseSbatchParsable('1234;cluster-a\n'), '1234');
    assert.throws(() => parseSbatchParsable('sbatch: error: Batch job submission failed\n'), /did not return a job id/);
  });
});

describe('slurm status and cost', () => {
  it('prices GPU-hours with the user-set price, and nothing by default', () => {
    const obs = { source: 'sacct' as const, state: 'COMPLETED', start: 1_000_000, end: 1_003_600, elapsedSeconds: 3600, nodes: 2 };
    const u = toStatusUpdate(obs, { nodes: 2, gpusPerNode: 4, pricePerGpuHour: 2.5 });
    assert.equal(u.status, 'succeeded');
    assert.equal(u.cost?.actual, 20); // 2 nodes × 4 GPUs × 1 h × $2.50
    assert.equal(u.cost?.pricePerHour, 20);
    assert.equal(u.startedAt, new Date(1_000_000_000).toISOString());
    assert.equal(u.finishedAt, new Date(1_003_600_000).toISOString());
    assert.equal(toStatusUpdate(obs, { nodes: 2, gpusPerNode: 4, pricePerGpuHour: 0 }).cost?.actual, 0);
  });

  it('accrues cost while running and none while pending', () => {
    const running = toStatusUpdate({ source: 'squeue', state: 'RUNNING', start: 1000 }, { nodes: 1, gpusPerNode: 1, pricePerGpuHour: 3.6 }, 1100);
    assert.equal(running.status, 'running');
    assert.equal(running.cost?.billedSeconds, 100);
    assert.equal(running.cost?.actual, 0.1);
    assert.equal(running.finishedAt, undefined);
    const pending = toStatusUpdate({ source: 'squeue', state: 'PENDING', reason: 'Priority', start: 5000 }, { nodes: 1, gpusPerNode: 1, pricePerGpuHour: 3.6 });
    assert.equal(pending.cost, undefined);
    assert.equal(pending.startedAt, undefined, 'squeue shows the expected start of a pending job: not a start');
    const timeout = toStatusUpdate({ source: 'squeue', state: 'TIMEOUT', reason: 'TimeLimit', start: 10, end: 70 }, { nodes: 1, gpusPerNode: 0, pricePerGpuHour: 9 });
    assert.equal(timeout.error, 'Time limit reached (TIMEOUT)');
    assert.equal(timeout.cost?.actual, 0, 'CPU-only jobs use no GPU-hours');
  });
});
