import '../shared/zod-config'; // first: before any schema is parsed
import { el, facts, formatDuration, section, usd } from '../shared/dom';
import { appRoot, startPage, status } from '../shared/page';
import type { CostViewData } from '../shared/protocol';
import { button, setDisabled, tag } from '../shared/toolkit';

/** F5: the estimate (with its range and basis), the spend so far, the limits; Submit / Cancel. */
startPage('cost', (data, client) => {
  const e = data.estimate;
  const root = appRoot();
  const feedback = el('div', { className: 'feedback' });
  const buttons: HTMLElement[] = [];
  const confirm = async (proceed: boolean) => {
    buttons.forEach((b) => setDisabled(b, true));
    try {
      await client.request('cost.confirm', { proceed });
      feedback.replaceChildren(status(proceed ? 'Submitting… follow the progress in the notification.' : 'Cancelled: nothing was submitted.'));
    } catch (err) {
      buttons.forEach((b) => setDisabled(b, false));
      feedback.replaceChildren(status((err as Error).message, 'error'));
    }
  };
  if (data.mode === 'confirm') {
    buttons.push(
      button(!data.limits.ok ? 'Blocked by a spending limit' : data.finetune && data.finetune.cost === null ? 'Submit (cost unknown)' : `Submit (about ${usd(e.cost.expected)})`, { id: 'submit', disabled: !data.limits.ok, onClick: () => void confirm(true) }),
      button('Cancel', { id: 'cancel', appearance: 'secondary', onClick: () => void confirm(false) }),
    );
  }

  if (data.finetune) {
    const f = data.finetune;
    const grouped = (n: number) => n.toLocaleString('en-US');
    const approx = f.tokensExact ? '' : '~';
    root.replaceChildren(
      el('header', {},
        el('h1', { text: f.cost === null ? 'Estimated cost: unknown' : `Estimated cost: ${usd(f.cost)}` }),
        el('p', { className: 'lead', text: `${approx}${grouped(f.billedTokens)} billed tokens × ${f.pricePerMillion === null ? 'no published price' : `$${f.pricePerMillion} per 1M tokens`} for a ${f.rateKey} fine-tune of ${f.model}.` }),
        tag(f.tokensExact ? `Tokens counted with the ${f.tokenMethod}` : `Token count is an estimate (${f.tokenMethod})`, f.tokensExact ? 'ok' : 'warn'),
      ),
      section('Estimate', facts([
        ...f.files.map((x): [string, string] => [x.role === 'training' ? 'Training file' : 'Validation file', `${x.name}: ${grouped(x.examples)} examples, ${approx}${grouped(x.tokens)} tokens${f.tokensExact ? '' : ' (estimate)'}`]),
        ['Epochs', String(f.epochs)],
        ['Billed tokens', `${approx}${grouped(f.billedTokens)}${f.tokensExact ? '' : ' (estimate)'}`],
        ['Price', f.pricePerMillion === null ? `none published for ${f.band ?? 'this model size'} (${f.rateKey}; price table checked ${f.checkedAt})` : `$${f.pricePerMillion} per 1M tokens (${f.band ?? ''}, ${f.rateKey}; prices checked ${f.checkedAt})`],
        ['Price source', f.source],
        ['Basis', f.assumptions.join('; ')],
        ['Price check', f.priceCheck],
      ])),
      spendSection(data),
      ...(buttons.length ? [el('div', { className: 'actions' }, ...buttons)] : []),
      feedback,
    );
    return;
  }

  root.replaceChildren(
    el('header', {},
      el('h1', { text: `Estimated cost: ${usd(e.cost.expected)}` }),
      el('p', { className: 'lead', text: `Between ${usd(e.cost.low)} and ${usd(e.cost.high)} for ${e.steps} steps on ${e.hardwareLabel}.` }),
      tag(e.basis === 'history' ? `Learned from ${e.samples} of your jobs` : 'Default speed: no past jobs on this hardware', e.basis === 'history' ? 'ok' : 'warn'),
    ),
    rangeBar(e.cost),
    section('Estimate', facts([
      ['Hardware', `${e.hardwareLabel} (${e.hardware === e.provider ? e.provider : `${e.provider} ${e.hardware}`})`],
      ['Price', `${usd(e.pricePerHour)} per hour (prices checked ${e.priceCheckedAt})`],
      ['Price source', e.priceSource],
      ['Steps', `${e.steps}${e.stepsSource === 'default' ? ' (assumed: the config sets no max_train_steps)' : e.stepsSource === 'config' ? ' (max_train_steps)' : ''}`],
      ['Seconds per step', `${e.secondsPerStep.expected} (${e.secondsPerStep.low}–${e.secondsPerStep.high})`],
      ['Duration', `${formatDuration(e.durationSeconds.expected)} (${formatDuration(e.durationSeconds.low)} – ${formatDuration(e.durationSeconds.high)})`],
      ['Basis', e.basisText],
    ])),
    spendSection(data),
    ...(buttons.length ? [el('div', { className: 'actions' }, ...buttons)] : []),
    feedback,
  );
});

/** Low–expected–high as a band across the full width, the expected value marked and labelled where it falls. */
function rangeBar(c: { low: number; expected: number; high: number }): HTMLElement {
  const pos = c.high > c.low ? ((c.expected - c.low) / (c.high - c.low)) * 100 : 50;
  const bar = el('div', { className: 'range', title: `${usd(c.low)} – ${usd(c.high)}` });
  const mark = el('div', { className: 'range-mark' });
  mark.style.left = `${pos}%`;
  bar.append(el('div', { className: 'range-fill' }), mark);
  const expected = el('span', { className: 'range-expected', text: `expected ${usd(c.expected)}` });
  expected.style.left = `${pos}%`;
  return el('div', { className: 'range-wrap' }, bar,
    el('div', { className: 'range-labels' }, el('span', { text: `low ${usd(c.low)}` }), expected, el('span', { text: `high ${usd(c.high)}` })));
}

function spendSection(data: CostViewData): HTMLElement {
  const rows = data.limits.applicable.map((l) => {
    const after = l.spent + data.estimate.cost.expected;
    const meter = el('meter', { title: `${usd(l.spent)} of ${usd(l.limit)}` });
    meter.min = 0; meter.max = l.limit || 1; meter.value = Math.min(l.spent, l.limit); meter.high = l.limit * 0.8; meter.optimum = 0;
    return el('div', { className: 'limit' },
      el('span', { className: 'limit-label', text: l.label }), meter,
      el('span', { className: after > l.limit ? 'limit-text over' : 'limit-text', text: `${usd(l.spent)} of ${usd(l.limit)} · ${usd(after)} with this job` }));
  });
  const byProvider = Object.entries(data.spend.byProvider).map(([p, v]) => `${p} ${usd(v.day)} today, ${usd(v.month)} this month`).join(' · ');
  return section('Spending',
    facts([['Today', usd(data.spend.day)], ['This month', usd(data.spend.month)], ['By provider', byProvider || undefined]]),
    rows.length ? el('div', { className: 'limits' }, ...rows) : el('p', { className: 'muted', text: 'No spending limits set (cloudTraining.limits).' }),
    data.limits.ok ? undefined : el('p', { className: 'error', text: data.limits.message }),
  );
}
