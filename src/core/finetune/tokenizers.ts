import { loadVendor } from '../../vendor/load';
import type { Llama3Tokenizer } from '../../vendor/llama3-tokenizer';
import { modelFamily, type ModelFamily } from './models';

export interface TokenCounter {
  family: ModelFamily;
  /** True for a real tokenizer of the model's family; false for a bytes-per-token estimate. */
  exact: boolean;
  /** How counts are made, for the user ("Llama 3 tokenizer", "estimate: UTF-8 bytes / 3.6"). */
  method: string;
  /** Tokens of plain text (no special tokens). */
  count(text: string): number;
  /** Template tokens around one chat message (role header, end of turn). */
  perMessage: number;
  /** Template tokens per example (begin of text). */
  perExample: number;
}

/**
 * UTF-8 bytes per token for the estimate. Llama 3 / Qwen-class BPE vocabularies (128K–150K entries)
 * average ~4 bytes per token on English prose and fewer on code and other scripts; 3.6 leans high on
 * tokens (a cost estimate should not undershoot).
 */
export const ESTIMATE_BYTES_PER_TOKEN = 3.6;

/**
 * Chat template overhead, assumed: Llama 3 wraps each message as
 * `<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>` = 5 tokens around the content
 * (role name 1 token, "\n\n" 1 token), plus `<|begin_of_text|>` once per example. ChatML (Qwen) is
 * `<|im_start|>{role}\n{content}<|im_end|>\n` ≈ 5 as well, so the same figures serve the estimate.
 */
export const TEMPLATE_TOKENS_PER_MESSAGE = 5;
export const TEMPLATE_TOKENS_PER_EXAMPLE = 1;

export function estimateCounter(family: ModelFamily = 'other', reason = ''): TokenCounter {
  return {
    family,
    exact: false,
    method: `estimate: UTF-8 bytes / ${ESTIMATE_BYTES_PER_TOKEN}${reason ? ` (${reason})` : ''}`,
    count: (text) => (text.length === 0 ? 0 : Math.ceil(Buffer.byteLength(text, 'utf8') / ESTIMATE_BYTES_PER_TOKEN)),
    perMessage: TEMPLATE_TOKENS_PER_MESSAGE,
    perExample: TEMPLATE_TOKENS_PER_EXAMPLE,
  };
}

let llama3: Llama3Tokenizer | undefined;

/** The real Llama 3 tokenizer (llama3-tokenizer-js), loaded on first use; throws if it is not installed. */
export function llama3Counter(): TokenCounter {
  llama3 ??= loadVendor<{ llama3Tokenizer: Llama3Tokenizer }>('llama3-tokenizer').llama3Tokenizer;
  const tok = llama3;
  return {
    family: 'llama3',
    exact: true,
    method: 'Llama 3 tokenizer (llama3-tokenizer-js)',
    count: (text) => (text.length === 0 ? 0 : tok.encode(text, { bos: false, eos: false }).length),
    perMessage: TEMPLATE_TOKENS_PER_MESSAGE,
    perExample: TEMPLATE_TOKENS_PER_EXAMPLE,
  };
}

/**
 * The best counter for a base model: Llama 3.x gets the real tokenizer; other families (Qwen, Mistral,
 * Gemma: no small, permissively licensed tokenizer with baked vocabulary fits the .vsix budget today)
 * get the estimate, flagged `exact: false`.
 */
export function tokenCounterFor(model: string | undefined): TokenCounter {
  const family = model ? modelFamily(model) : 'other';
  if (family === 'llama3') {
    try {
      return llama3Counter();
    } catch {
      return estimateCounter(family, 'Llama 3 tokenizer not available');
    }
  }
  return estimateCounter(family, model ? `no tokenizer shipped for ${family}` : 'no base model given');
}
