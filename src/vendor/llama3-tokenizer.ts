/**
 * llama3-tokenizer-js (MIT; ~3.2 MB of baked vocabulary and merges, ~1.8 MB compressed in the .vsix) in
 * its own file, dist/vendor/llama3-tokenizer.js, loaded when tokens are first counted for a Llama 3
 * model (src/core/finetune/tokenizers.ts), never at activation. The package has no exports map; its
 * CommonJS bundle is required directly because its "main" is ESM.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mod = require('llama3-tokenizer-js/bundle/commonjs-llama3-tokenizer-with-baked-data.cjs') as { llama3Tokenizer: Llama3Tokenizer };

export interface Llama3Tokenizer {
  encode(text: string, options?: { bos?: boolean; eos?: boolean }): number[];
}

export const llama3Tokenizer: Llama3Tokenizer = mod.llama3Tokenizer;
