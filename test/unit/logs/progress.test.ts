import assert from 'node:assert/strict';
import { parseProgressLine } from '../../../src/core/logs/progress';
import type { Progress } from '../../../src/core/jobs/schema';

function fold(lines: string[]): Progress {
  let p: Progress = {};
  for (const l of lines) p = parseProgressLine(l, p)?.progress ?? p;
  return p;
}

describe('progress parser', () => {
  it('reads SimpleTuner tqdm lines (step, total, ETA, it/s, lr, step_loss)', () => {
    const r = parseProgressLine('Epoch 1/10, Steps:  45%|████▌     | 450/1000 [01:23<01:40,  5.43it/s, lr=0.0001, step_loss=0.0512]');
    assert.ok(r);
    assert.equal(r.progress.step, 450);
    assert.equal(r.progress.totalSteps, 1000);
    assert.equal(r.progress.percent, 45);
    assert.equal(r.progress.etaSeconds, 100);
    assert.equal(r.progress.loss, 0.0512);
    assert.equal(r.progress.learningRate, 0.0001);
    assert.ok(Math.abs(r.progress.secondsPerStep! - 1 / 5.43) < 1e-9);
    assert.deepEqual(r.metric, { step: 450, loss: 0.0512, learningRate: 0.0001 });
  });

  it('reads s/it rates and hour-long ETAs', () => {
    const r = parseProgressLine(' 10%|█         | 100/1000 [10:00<1:30:00,  6.00s/it]');
    assert.equal(r?.progress.secondsPerStep, 6);
    assert.equal(r?.progress.etaSeconds, 5400);
  });

  it('reads HuggingFace transformers/accelerate loss dicts after a tqdm bar', () => {
    const p = fold([
      ' 30%|███       | 30/100 [00:10<00:23,  3.00it/s]',
      "{'loss': 1.2345, 'grad_norm': 0.5, 'learning_rate': 2e-05, 'epoch': 0.3}",
    ]);
    assert.equal(p.step, 30);
    assert.equal(p.totalSteps, 100);
    assert.equal(p.loss, 1.2345);
    assert.equal(p.learningRate, 2e-5);
    assert.equal(p.epoch, 0.3);
  });

  it('reads axolotl-style lines', () => {
    const p = fold([
      "[2024-05-01 10:00:00,000] [INFO] [axolotl.train] {'loss': 0.9, 'learning_rate': 0.0002, 'epoch': 1.5}",
      'Epoch 2/3',
      '{"train_loss": 0.81, "step": 42, "total_steps": 84}',
    ]);
    assert.equal(p.loss, 0.81);
    assert.equal(p.learningRate, 0.0002);
    assert.equal(p.step, 42);
    assert.equal(p.totalSteps, 84);
    assert.equal(p.percent, 50);
    assert.equal(p.totalEpochs, 3);
  });

  it('reads plain "step N/M" lines and ignores unrelated text', () => {
    assert.equal(parseProgressLine('Loading model weights from disk'), undefined);
    assert.equal(parseProgressLine('step 5/20 loss=0.5')?.progress.percent, 25);
  });
});
