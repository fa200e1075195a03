import assert from 'node:assert/strict';
import { JobFileError, readJobFile } from '../../../src/core/finetune/job-file';
import { tempDir } from './helpers';

describe('finetune: job file', () => {
  const t = tempDir();
  after(() => t.cleanup());

  it('reads finetune.json and finetune.toml with aliases and defaults', async () => {
    const j = await readJobFile(t.file('finetune.json', JSON.stringify({ model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference', epochs: 3, lora_rank: 16, training_file: 'data/train.jsonl', validation_file: 'data/val.jsonl', n_evals: 5 })));
    assert.deepEqual(j, { base_model: 'meta-llama/Meta-Llama-3.1-8B-Instruct-Reference', n_epochs: 3, lora_r: 16, training_file: 'data/train.jsonl', validation_file: 'data/val.jsonl', n_evals: 5, lora: true, method: 'sft' });
    const toml = await readJobFile(t.file('finetune.toml', 'base_model = "Qwen/Qwen2.5-7B"\nn_epochs = 2\nlearning_rate = 1e-5\nmethod = "dpo"\nlora = false\n'));
    assert.deepEqual(toml, { base_model: 'Qwen/Qwen2.5-7B', n_epochs: 2, learning_rate: 1e-5, method: 'dpo', lora: false, n_evals: 0 });
  });

  it('errors name the file and the field as written', async () => {
    const bad = async (name: string, content: string, field: string | undefined, msg: RegExp) => {
      const file = t.file(name, content);
      const e = await readJobFile(file).then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof JobFileError, `${name}: ${String(e)}`);
      assert.equal(e.file, file);
      assert.equal(e.field, field);
      assert.match(e.message, msg);
      assert.ok(e.message.startsWith(file));
    };
    await bad('a.toml', 'model = "x"\nlora_rank = "8"\n', 'lora_rank', /expected number/);
    await bad('b.json', '{"base_model":"x","epochs":0}', 'epochs', /Too small|>=?\s*0|positive/i);
    await bad('c.json', '{"base_model":"x","epoch":2}', 'epoch', /unknown key/);
    await bad('d.json', '{"n_epochs":2}', 'base_model', /expected string/);
    await bad('e.toml', 'model = ', undefined, /cannot parse/);
    await bad('f.json', '{"base_model":"x","method":"ppo"}', 'method', /Invalid option|expected one of/i);
  });

  it('reads the relevant keys of an axolotl YAML', async () => {
    const j = await readJobFile(t.file('axolotl.yml', [
      'base_model: NousResearch/Meta-Llama-3-8B   # the base', 'adapter: lora', 'lora_r: 32', 'lora_alpha: 16', 'num_epochs: 4',
      'learning_rate: 0.0002', 'val_set_size: 0.05', 'datasets:', '  - path: data/train.jsonl', '    type: chat_template', 'output_dir: ./out', '',
    ].join('\n')));
    assert.deepEqual(j, { base_model: 'NousResearch/Meta-Llama-3-8B', lora: true, lora_r: 32, n_epochs: 4, learning_rate: 0.0002, val_set_size: 0.05, training_file: 'data/train.jsonl', method: 'sft', n_evals: 0 });
  });

  it('refuses YAML it cannot read safely, naming the key', async () => {
    await assert.rejects(readJobFile(t.file('x.yaml', 'base_model: &m NousResearch/Meta-Llama-3-8B\n')), (e: unknown) => e instanceof JobFileError && e.field === 'base_model' && /line 1: only a plain value/.test(e.message));
    await assert.rejects(readJobFile(t.file('y.yaml', 'num_epochs: 2\n')), (e: unknown) => e instanceof JobFileError && e.field === 'base_model');
    await assert.rejects(readJobFile(t.file('z.yaml', 'base_model: x\nnum_epochs: two\n')), (e: unknown) => e instanceof JobFileError && e.field === 'num_epochs');
  });
});
