import assert from 'node:assert/strict';
import { DEFAULT_STEPS, actualCost, estimateCost, measuredSecondsPerStep } from '../../../src/core/cost/estimate';
import { PRICE_TABLE, priceFor, priceList } from '../../../src/core/cost/prices';
import { job } from './helpers';

const now = new Date('2026-11-20T12:00:00Z');
const ago = (hours: number) => new Date(now.getTime() - hours * 3600_000).toISOString();

describe('cost: price table', () => {
  it('has a checked date per provider and the Replicate prices from the spec', () => {
    for (const [id, p] of Object.entries(PRICE_TABLE.providers)) assert.match(p.checkedAt, /^\d{4}-\d{2}-\d{2}$/, id);
    assert.equal(priceFor('replicate', 'l40s').pricePerSecond, 0.000972222);
    assert.equal(priceFor('replicate', 'gpu-h100').pricePerSecond, 0.001525);
    assert.equal(priceFor('replicate', 'l40s').pricePerHour, 3.5);
    assert.equal(priceFor('replicate', 'h100').pricePerHour, 5.49);
  });

  it('prices multi-GPU profiles at n× the single GPU', () => {
    for (const base of ['l40s', 'h100']) {
      const one = priceFor('replicate', base).pricePerSecond;
      for (const n of [2, 4, 8]) {
        const p = priceFor('replicate', `${base}-x${n}`);
        assert.equal(p.gpus, n);
        assert.ok(Math.abs(p.pricePerSecond - n * one) < 1e-9, `${base}-x${n}`);
      }
    }
    assert.equal(priceList('replicate').length, 8);
  });

  it('local is free; ssh/slurm use the user price per GPU-hour (default 0); unknown hardware is an error', () => {
    assert.equal(priceFor('local', undefined).pricePerHour, 0);
    assert.equal(priceFor('ssh', 'a100').pricePerHour, 0);
    assert.equal(priceFor('ssh', 'a100-x4', { perGpuHour: { ssh: 1.25 } }).pricePerHour, 5);
    assert.equal(priceFor('slurm', 'gpu-x8', { perGpuHour: { slurm: 2 } }).pricePerHour, 16);
    assert.throws(() => priceFor('replicate', 'a100'), /Unknown hardware "a100" for replicate/);
  });
});

describe('cost: estimate', () => {
  it('without history uses the documented default seconds/step with a wide range', () => {
    const e = estimateCost({ provider: 'replicate', hardware: 'l40s', configSteps: 1000, history: [], now });
    assert.equal(e.basis, 'default');
    assert.equal(e.samples, 0);
    assert.equal(e.steps, 1000);
    assert.equal(e.stepsSource, 'config');
    const d = PRICE_TABLE.providers.replicate!.hardware.l40s!.defaultSecondsPerStep;
    assert.deepEqual(e.secondsPerStep, d);
    assert.equal(e.durationSeconds.expected, 1000 * d.expected);
    assert.ok(Math.abs(e.cost.expected - 1000 * d.expected * 0.000972222) < 1e-3);
    assert.ok(e.cost.low < e.cost.expected && e.cost.expected < e.cost.high);
    assert.ok(e.cost.high / e.cost.low >= 4, 'the default range is wide');
    assert.match(e.basisText, /no finished jobs/);
  });

  it('learns seconds/step from this user\'s finished jobs on the same provider+hardware only', () => {
    const history = [
      // 2 s/step measured by the log parser
      job({ provider: 'replicate', hardware: 'l40s', finishedAt: ago(1), progress: { secondsPerStep: 2, step: 500 } }),
      // 1000 steps in 2500 s of wall time → 2.5 s/step
      job({ provider: 'replicate', hardware: 'gpu-l40s', startedAt: ago(5), finishedAt: new Date(Date.parse(ago(5)) + 2500_000).toISOString(), progress: { step: 1000, totalSteps: 1000 } }),
      job({ provider: 'replicate', hardware: 'l40s', finishedAt: ago(2), progress: { secondsPerStep: 3, step: 800 } }),
      // other hardware, other provider, still running, too old: all ignored
      job({ provider: 'replicate', hardware: 'h100', finishedAt: ago(1), progress: { secondsPerStep: 0.5, step: 800 } }),
      job({ provider: 'ssh', hardware: 'l40s', finishedAt: ago(1), progress: { secondsPerStep: 40, step: 800 } }),
      job({ provider: 'replicate', hardware: 'l40s', status: 'running', progress: { secondsPerStep: 90, step: 800 } }),
      job({ provider: 'replicate', hardware: 'l40s', finishedAt: ago(24 * 100), progress: { secondsPerStep: 90, step: 800 } }),
    ];
    const e = estimateCost({ provider: 'replicate', hardware: 'l40s', steps: 2000, history, now });
    assert.equal(e.basis, 'history');
    assert.equal(e.samples, 3);
    assert.equal(e.secondsPerStep.expected, 2.5); // median of 2, 2.5, 3
    assert.equal(e.secondsPerStep.low, 2);
    assert.equal(e.secondsPerStep.high, 3);
    assert.equal(e.durationSeconds.expected, 5000);
    assert.equal(e.cost.expected, Math.round(5000 * 0.000972222 * 1e4) / 1e4);
    assert.equal(e.stepsSource, 'argument');
    assert.match(e.basisText, /learned from your 3 finished jobs/);
  });

  it('with a single past job keeps at least a 0.8×–1.5× range', () => {
    const e = estimateCost({ provider: 'replicate', hardware: 'h100', steps: 100, history: [job({ provider: 'replicate', hardware: 'h100', finishedAt: ago(1), progress: { secondsPerStep: 2, step: 100 } })], now });
    assert.deepEqual(e.secondsPerStep, { low: 1.6, expected: 2, high: 3 });
  });

  it('assumes a default step count when the config has none, and says so', () => {
    const e = estimateCost({ provider: 'local', history: [], now });
    assert.equal(e.steps, DEFAULT_STEPS);
    assert.equal(e.stepsSource, 'default');
    assert.equal(e.cost.high, 0);
    assert.match(e.basisText, /assumed/);
  });

  it('ignores jobs that ran too few steps to measure speed', () => {
    assert.equal(measuredSecondsPerStep(job({ provider: 'local', status: 'failed', progress: { secondsPerStep: 9, step: 2 } })), undefined);
    assert.equal(measuredSecondsPerStep(job({ provider: 'local', status: 'failed', startedAt: ago(2), finishedAt: ago(1), progress: { step: 100 } })), undefined);
  });

  it('prices a finished job from its billed seconds or wall time', () => {
    const billed = job({ provider: 'replicate', hardware: 'h100-x2', startedAt: ago(3), finishedAt: ago(1), cost: { currency: 'USD', billedSeconds: 3600 } });
    assert.equal(actualCost(billed)?.actual, 10.98);
    const wall = job({ provider: 'replicate', hardware: 'l40s', startedAt: ago(2), finishedAt: ago(1) });
    assert.equal(actualCost(wall)?.actual, 3.5);
    assert.equal(actualCost(wall)?.billedSeconds, 3600);
  });
});
