import type { FinetuneProvider } from './cost';

/**
 * Base models offered in the editor's picker, per provider: the common LoRA fine-tuning targets from
 * each provider's "supported models" page (Together: docs.together.ai/docs/fine-tuning-models;
 * Fireworks: docs.fireworks.ai/fine-tuning/fine-tuning-models). Not a complete list: the picker also
 * takes any other model name, and the provider decides whether it can be tuned. Prices come from the
 * price table's size bands (finetune-prices.json), not from here.
 */
export const BASE_MODELS: Record<FinetuneProvider, readonly string[]> = {
  together: [
    'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference',
    'meta-llama/Meta-Llama-3.1-70B-Instruct-Reference',
    'meta-llama/Llama-3.2-3B-Instruct',
    'meta-llama/Llama-3.3-70B-Instruct-Reference',
    'Qwen/Qwen2.5-7B-Instruct',
    'Qwen/Qwen2.5-14B-Instruct',
    'mistralai/Mistral-7B-Instruct-v0.2',
  ],
  fireworks: [
    'accounts/fireworks/models/llama-v3p1-8b-instruct',
    'accounts/fireworks/models/llama-v3p1-70b-instruct',
    'accounts/fireworks/models/llama-v3p2-3b-instruct',
    'accounts/fireworks/models/qwen2p5-7b-instruct',
    'accounts/fireworks/models/mixtral-8x7b-instruct',
  ],
};

/** Model used to count tokens for the lens when no job file or earlier choice names one (Llama 3: real tokenizer). */
export const DEFAULT_LENS_MODEL = BASE_MODELS.together[0]!;
