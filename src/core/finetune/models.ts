/** What the name of a base model tells us: its tokenizer family, size (for the price band) and context. */
export type ModelFamily = 'llama3' | 'llama2' | 'qwen' | 'mistral' | 'gemma' | 'deepseek' | 'other';

export interface ModelInfo {
  model: string;
  family: ModelFamily;
  /** Total parameters in billions, from the name (`8B`, `70b`, `8x7B` → 56); undefined when absent. */
  paramsB?: number;
  /** Mixture-of-experts (`8x7B`, `-A3B`): some providers price those in their own bands. */
  moe: boolean;
  /** The model's own context length in tokens when we know it; providers may train with less. */
  contextLength?: number;
}

// Context lengths from the model cards (Llama 3: 8K; 3.1/3.2/3.3: 128K; Qwen2.5 and Qwen3: 32K native).
const CONTEXT: [RegExp, number][] = [
  [/llama[-_ ]?3[._p]?[123]|llama-v3p[123]/i, 131072],
  [/llama[-_ ]?3|llama-v3/i, 8192],
  [/qwen/i, 32768],
  [/mistral|mixtral/i, 32768],
  [/gemma[-_ ]?3/i, 131072],
  [/gemma/i, 8192],
];

export function modelFamily(model: string): ModelFamily {
  const m = model.toLowerCase();
  if (/llama[-_ ]?3|llama-v3/.test(m)) return 'llama3';
  if (/llama[-_ ]?2|llama-v2/.test(m)) return 'llama2';
  if (/qwen/.test(m)) return 'qwen';
  if (/mistral|mixtral/.test(m)) return 'mistral';
  if (/gemma/.test(m)) return 'gemma';
  if (/deepseek/.test(m)) return 'deepseek';
  return 'other';
}

export function modelInfo(model: string): ModelInfo {
  const name = model.split('/').pop() ?? model;
  const moeMatch = /(\d+)x(\d+(?:\.\d+)?)b/i.exec(name);
  let paramsB: number | undefined;
  let moe = false;
  if (moeMatch) {
    paramsB = Number(moeMatch[1]) * Number(moeMatch[2]);
    moe = true;
  } else {
    // `Qwen3-30B-A3B`: 30B total, 3B active; the total is what prices and memory follow.
    const m = /(?:^|[-_.])(\d+(?:[.p]\d+)?)b(?![a-z])/i.exec(name);
    if (m) paramsB = Number(m[1]!.replace('p', '.'));
    moe = /-a\d+(?:\.\d+)?b/i.test(name);
  }
  const contextLength = CONTEXT.find(([re]) => re.test(name))?.[1];
  return { model, family: modelFamily(name), paramsB, moe, contextLength };
}
