import type { MetricPoint, Progress } from '../jobs/schema';

/**
 * Reads training progress out of log lines from SimpleTuner, HuggingFace transformers/accelerate
 * (tqdm bars and `{'loss': ...}` dicts) and axolotl. Each call folds one line into the running state;
 * lines that say nothing leave it unchanged. Pure and allocation-light: it runs on every log line.
 */
export interface ParsedProgress { progress: Progress; metric?: MetricPoint }

const num = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
};

// tqdm: " 45%|████▌     | 450/1000 [01:23<01:40,  5.43it/s, loss=0.123, lr=1e-4]" (also s/it)
const TQDM = /(\d{1,3})%\|[^|]*\|\s*(\d+)\/(\d+)\s*\[([\d:]+)<([\d:?]+),\s*([\d.]+|\?)\s*(it\/s|s\/it)?([^\]]*)\]/;
// SimpleTuner: "Step 450/1000 ... loss=0.123 lr=1e-4" or "step 450 of 1000"
const STEP = /\b(?:global[_ ])?step[:= ]\s*(\d+)\s*(?:\/|of)\s*(\d+)/i;
// HF dict: {'loss': 0.5, 'learning_rate': 2e-05, 'epoch': 0.3}  (also axolotl, with "grad_norm")
const DICT = /\{\s*['"](?:loss|train_loss|eval_loss)['"]\s*:[^}]*\}/;
const KV = /\b(loss|train_loss|step_loss|lr|learning_rate|epoch|step|total_steps|eta)['"]?\s*[=:]\s*['"]?([-+\d.eE:]+)/gi;
const EPOCH = /\bepoch\s*(\d+)\s*\/\s*(\d+)/i;

export function parseDuration(s: string): number | undefined {
  if (!/^\d+(:\d+){0,2}$/.test(s)) return undefined;
  return s.split(':').map(Number).reduce((acc, v) => acc * 60 + v, 0);
}

export function parseProgressLine(line: string, prev: Progress = {}): ParsedProgress | undefined {
  let changed = false;
  const p: Progress = { ...prev };

  const t = TQDM.exec(line);
  if (t) {
    p.percent = Math.min(100, num(t[1]) ?? 0);
    p.step = num(t[2]);
    p.totalSteps = num(t[3]) || undefined;
    const eta = parseDuration(t[5] ?? '');
    if (eta !== undefined) p.etaSeconds = eta;
    const rate = num(t[6]);
    if (rate) p.secondsPerStep = t[7] === 's/it' ? rate : 1 / rate;
    changed = true;
    scanKv(t[8] ?? '', p);
  } else {
    const s = STEP.exec(line);
    if (s) {
      p.step = num(s[1]);
      p.totalSteps = num(s[2]) || p.totalSteps;
      changed = true;
    }
    const d = DICT.exec(line);
    if (d) {
      changed = scanKv(d[0], p) || changed;
    } else if (s || /\b(loss|lr|train_loss)['"]?\s*[=:]/.test(line)) {
      changed = scanKv(line, p) || changed;
    }
    const e = EPOCH.exec(line);
    if (e) {
      p.epoch = num(e[1]);
      p.totalEpochs = num(e[2]);
      changed = true;
    }
  }
  if (!changed) return undefined;
  if (p.step !== undefined && p.totalSteps) p.percent = Math.min(100, Math.round((p.step / p.totalSteps) * 1000) / 10);
  const metric = p.step !== undefined && (p.loss !== undefined || p.learningRate !== undefined) && (p.step !== prev.step || p.loss !== prev.loss)
    ? { step: p.step, loss: p.loss, learningRate: p.learningRate }
    : undefined;
  return { progress: p, metric };
}

function scanKv(text: string, p: Progress): boolean {
  let changed = false;
  for (const m of text.matchAll(KV)) {
    const key = m[1]!.toLowerCase();
    const raw = m[2]!;
    if (key === 'eta') {
      const d = parseDuration(raw);
      if (d !== undefined) { p.etaSeconds = d; changed = true; }
      continue;
    }
    const v = num(raw);
    if (v === undefined) continue;
    changed = true;
    if (key === 'loss' || key === 'train_loss' || key === 'step_loss') p.loss = v;
    else if (key === 'lr' || key === 'learning_rate') p.learningRate = v;
    else if (key === 'epoch') p.epoch = v;
    else if (key === 'step') p.step = Math.trunc(v);
    else if (key === 'total_steps') p.totalSteps = Math.trunc(v);
  }
  return changed;
}
