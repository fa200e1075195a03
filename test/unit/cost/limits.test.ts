import assert from 'node:assert/strict';
import { finalCost } from '../../../src/core/cost/estimate';
import { SpendingLimitsSchema, checkSpendingLimits } from '../../../src/core/cost/limits';
import { committedSpend, spendingTotals } from '../../../src/core/cost/spending';
import { job } from './helpers';

// Local-time dates: limits follow the user's calendar day and month.
const now = new Date(2026, 10, 20, 15, 0, 0);
const today = new Date(2026, 10, 20, 9, 0, 0).toISOString();
const earlierThisMonth = new Date(2026, 10, 3, 9, 0, 0).toISOString();
const lastMonth = new Date(2026, 9, 30, 9, 0, 0).toISOString();

const paid = (provider: 'replicate' | 'ssh', amount: number, createdAt: string) =>
  job({ provider, createdAt, cost: { currency: 'USD', actual: amount } });

// Spent: replicate $4 today + $10 earlier this month; ssh $1 today; $100 last month (never counts).
const history = [
  paid('replicate', 4, today),
  paid('replicate', 10, earlierThisMonth),
  paid('ssh', 1, today),
  paid('replicate', 100, lastMonth),
];

describe('cost: spending totals', () => {
  it('adds up today and this month, overall and per provider', () => {
    const t = spendingTotals(history, now);
    assert.equal(t.day, 5);
    assert.equal(t.month, 15);
    assert.deepEqual(t.byProvider.replicate, { day: 4, month: 14 });
    assert.deepEqual(t.byProvider.ssh, { day: 1, month: 1 });
  });

  it('counts a running job\'s estimate until its actual cost is known', () => {
    const running = job({ provider: 'replicate', status: 'running', createdAt: today, cost: { currency: 'USD', estimate: { low: 1, expected: 2, high: 3 } } });
    const cancelledEarly = job({ provider: 'replicate', status: 'cancelled', createdAt: today, cost: { currency: 'USD', estimate: { low: 1, expected: 2, high: 3 } } });
    assert.equal(committedSpend(running), 2);
    assert.equal(committedSpend(cancelledEarly), 0);
    assert.equal(spendingTotals([...history, running, cancelledEarly], now).day, 7);
  });
});

describe('cost: spending limits', () => {
  const limits = (v: unknown) => SpendingLimitsSchema.parse(v);
  // For each limit: the estimate that lands exactly on it, one cent under, one cent over.
  const cases: { name: string; limits: unknown; provider: 'replicate' | 'ssh'; atEstimate: number; scope: string; period: string }[] = [
    { name: 'overall daily', limits: { daily: 10 }, provider: 'replicate', atEstimate: 5, scope: 'overall', period: 'day' },
    { name: 'overall monthly', limits: { monthly: 20 }, provider: 'replicate', atEstimate: 5, scope: 'overall', period: 'month' },
    { name: 'provider daily', limits: { perProvider: { replicate: { daily: 6 } } }, provider: 'replicate', atEstimate: 2, scope: 'replicate', period: 'day' },
    { name: 'provider monthly', limits: { perProvider: { replicate: { monthly: 20 } } }, provider: 'replicate', atEstimate: 6, scope: 'replicate', period: 'month' },
    { name: 'another provider\'s daily', limits: { perProvider: { ssh: { daily: 3 } } }, provider: 'ssh', atEstimate: 2, scope: 'ssh', period: 'day' },
  ];
  for (const c of cases) {
    it(`${c.name}: at the limit and under it pass, over it blocks with the figures`, () => {
      const l = limits(c.limits);
      assert.equal(checkSpendingLimits(l, history, c.provider, c.atEstimate, now).ok, true, 'exactly at the limit');
      assert.equal(checkSpendingLimits(l, history, c.provider, c.atEstimate - 0.01, now).ok, true, 'under');
      const over = checkSpendingLimits(l, history, c.provider, c.atEstimate + 0.01, now);
      assert.equal(over.ok, false, 'over');
      assert.equal(over.violations.length, 1);
      const v = over.violations[0]!;
      assert.equal(v.scope, c.scope);
      assert.equal(v.period, c.period);
      assert.equal(v.wouldBe, Math.round((v.spent + c.atEstimate + 0.01) * 1e4) / 1e4);
      assert.ok(over.message.includes(`$${v.limit.toFixed(2)}`), over.message);
      assert.ok(over.message.includes(`$${v.spent.toFixed(2)}`), over.message);
      assert.ok(over.message.includes(`$${(c.atEstimate + 0.01).toFixed(2)}`), over.message);
      assert.match(over.message, /cloudTraining\.limits\./);
    });
  }

  it('a provider limit does not block another provider; no limits never block', () => {
    const l = limits({ perProvider: { ssh: { daily: 1 } } });
    assert.equal(checkSpendingLimits(l, history, 'replicate', 500, now).ok, true);
    assert.equal(checkSpendingLimits(limits({}), history, 'replicate', 1e6, now).ok, true);
    assert.equal(checkSpendingLimits(limits({ daily: null, monthly: null, perProvider: null }), history, 'replicate', 1e6, now).ok, true);
  });

  it('a zero limit still lets free jobs through and reports every limit passed', () => {
    const l = limits({ daily: 0, monthly: 0 });
    assert.equal(checkSpendingLimits(l, [], 'replicate', 0, now).ok, true);
    // Already over budget today: a free job still runs, a paid one does not.
    assert.equal(checkSpendingLimits(limits({ daily: 1 }), history, 'ssh', 0, now).ok, true);
    assert.equal(checkSpendingLimits(limits({ daily: 1 }), history, 'ssh', 0.01, now).ok, false);
    const r = checkSpendingLimits(limits({ daily: 5, monthly: 15, perProvider: { replicate: { daily: 4 } } }), history, 'replicate', 1, now);
    assert.deepEqual(r.violations.map((v) => `${v.scope}/${v.period}`).sort(), ['overall/day', 'overall/month', 'replicate/day']);
    assert.equal(r.message.split('\n').length, 3);
  });

  it('rejects negative limits in settings', () => {
    assert.throws(() => limits({ daily: -1 }));
  });
});

describe('cost: finished jobs without a provider-reported cost', () => {
  it('count their run time × the user price (ssh/slurm), and finalCost fills the job in', () => {
    const ran = job({ provider: 'ssh', hardware: 'a100-x2', createdAt: today, startedAt: today, finishedAt: new Date(Date.parse(today) + 1800_000).toISOString() });
    const pricing = { perGpuHour: { ssh: 2 } };
    // 0.5 h × 2 GPUs × $2
    assert.equal(spendingTotals([ran], now, pricing).day, 2);
    assert.equal(spendingTotals([ran], now).day, 0, 'unpriced host: free');
    assert.deepEqual(finalCost(ran, pricing), { currency: 'USD', actual: 2, billedSeconds: 1800, pricePerHour: 4 });
    assert.equal(finalCost({ ...ran, cost: { currency: 'USD', actual: 9 } }, pricing), undefined, 'a reported cost wins');
    assert.equal(finalCost({ ...ran, status: 'running' }, pricing), undefined);
  });
});
