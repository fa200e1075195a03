import assert from 'node:assert/strict';
import { JobSchema } from '../../../src/core/jobs/schema';
import { installVscodeShim } from '../submit/vscode-shim';
import { jobDetails } from '../../../src/cli/format';

installVscodeShim();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const p = require('../../../src/vscode/tree/job-presentation') as typeof import('../../../src/vscode/tree/job-presentation');

describe('tree: latest GPU figures and the idle mark', () => {
  const job = (util: number, idleMinutes?: number, status: 'running' | 'succeeded' = 'running') => {
    const at = Date.parse('2026-12-03T10:30:00Z');
    return JobSchema.parse({
      id: 'g', name: 'gpu', provider: 'ssh', status, createdAt: '2026-12-03T10:00:00Z', updatedAt: '2026-12-03T10:30:00Z', startedAt: '2026-12-03T10:00:00Z',
      metadata: { gpu: { at: new Date(at).toISOString(), gpus: [{ index: 0, util, memUsed: 20480, memTotal: 81920, power: 300.4 }], ...(idleMinutes !== undefined ? { idleSince: new Date(at - idleMinutes * 60_000).toISOString() } : {}) } },
    });
  };

  it('tooltip shows the latest figures; 10 idle minutes give the warning icon, description and tooltip line', () => {
    const busy = job(93);
    assert.match(p.jobTooltip(busy).value, /GPU 0: 93% · 20\\?\.0\/80\\?\.0 GiB · 300 W/);
    assert.notEqual((p.providerIcon(busy) as unknown as { id: string }).id, 'warning');
    assert.doesNotMatch(p.jobDescription(busy), /idle/);

    const nineMin = job(3, 9.9);
    assert.equal(p.gpuIdle(nineMin), false, 'under 10 minutes: no mark yet');
    const idle = job(3, 10);
    assert.equal((p.providerIcon(idle) as unknown as { id: string }).id, 'warning');
    assert.match(p.jobDescription(idle), /^⚠ GPU idle — data loading bound\?/);
    assert.match(p.jobTooltip(idle).value, /GPU idle — data loading bound\?/);
    assert.equal(p.gpuIdle(job(3, 30, 'succeeded')), false, 'an ended job is never marked');
    assert.match(jobDetails(idle), /GPU:\s+GPU 0: 3% .* GPU idle for 10\+ min/);
  });

  it('tooltip says why a job\'s GPU use is not sampled', () => {
    const j = JobSchema.parse({ ...job(0), metadata: { gpuUnavailable: 'this cluster\'s srun has no --overlap' } });
    assert.match(p.jobTooltip(j).value, /GPU use: not sampled — this cluster's srun has no \\-\\-overlap/);
  });
});
