import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { discoverConfigs, isDataloaderConfigPath, loadTrainingConfig, validateConfigFile } from '../../../src/core/config';

async function write(file: string, text: string) {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
}

describe('config: training configs and discovery', () => {
  let root: string;
  beforeEach(async () => { root = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-training-')); });
  afterEach(async () => { await fs.rm(root, { recursive: true, force: true }); });

  it('reads config.json, config.toml and config.env with or without "--", resolving data_backend_config', async () => {
    await write(path.join(root, 'config/multidatabackend.json'), '[]');
    await write(path.join(root, 'config/dataloaders/portrait/multidatabackend.json'), '[]');
    await write(path.join(root, 'config/config.json'), JSON.stringify({ '--model_type': 'lora', learning_rate: 1e-4, '--data_backend_config': 'config/multidatabackend.json' }));
    await write(path.join(root, 'config/toml/config.toml'), '[training]\n"--model_family" = "flux"\nmax_train_steps = 100\ndata_backend_config = "config/dataloaders/portrait/multidatabackend.json"\n');
    await write(path.join(root, 'config/env/config.env'), 'export MODEL_TYPE=lora\nDATALOADER_CONFIG="config/multidatabackend.json"\nTRAINER_EXTRA_ARGS="--lora_rank=16 --push_to_hub --seed 42"\n--resolution=1024\n');

    const json = await loadTrainingConfig(path.join(root, 'config/config.json'));
    assert.equal(json.format, 'json');
    assert.deepEqual(json.values, { model_type: 'lora', learning_rate: 1e-4, data_backend_config: 'config/multidatabackend.json' });
    assert.equal(json.originalKeys.model_type, '--model_type');
    assert.equal(json.dataloaderPath, path.join(root, 'config/multidatabackend.json'));

    const toml = await loadTrainingConfig(path.join(root, 'config/toml/config.toml'));
    assert.equal(toml.values.model_family, 'flux');
    assert.equal(toml.values.max_train_steps, 100);
    assert.equal(toml.dataloaderPath, path.join(root, 'config/dataloaders/portrait/multidatabackend.json'));

    const env = await loadTrainingConfig(path.join(root, 'config/env/config.env'));
    assert.equal(env.values.model_type, 'lora');
    assert.equal(env.values.lora_rank, '16');
    assert.equal(env.values.push_to_hub, true);
    assert.equal(env.values.seed, '42');
    assert.equal(env.values.resolution, '1024');
    assert.equal(env.dataloaderPath, path.join(root, 'config/multidatabackend.json'));

    await write(path.join(root, 'config/bad/config.json'), '{"--a": 1,');
    const bad = await loadTrainingConfig(path.join(root, 'config/bad/config.json'));
    assert.deepEqual(bad.diagnostics.map((d) => [d.code, d.offset]), [['json-syntax', '{"--a": 1,'.length]], 'one message, where the value is missing');
    assert.match(bad.diagnostics[0]!.message, /expected a property name/);
    await write(path.join(root, 'config/badtoml/config.toml'), 'a = 1\nb = \n');
    const badToml = await loadTrainingConfig(path.join(root, 'config/badtoml/config.toml'));
    assert.deepEqual(badToml.diagnostics.map((d) => [d.code, d.offset]), [['parse', 'a = 1\nb = '.length]]);
  });

  it('discovers training configs (config/, config/<env>/, SimpleTuner-looking ones elsewhere) and dataloader configs', async () => {
    await write(path.join(root, 'config/config.json'), JSON.stringify({ '--data_backend_config': 'config/custom-loader.json' }));
    await write(path.join(root, 'config/custom-loader.json'), '[]');
    await write(path.join(root, 'config/prod/config.toml'), 'model_type = "lora"\n');
    await write(path.join(root, 'config/dataloaders/people/multidatabackend.json'), '[]');
    await write(path.join(root, 'experiments/multidatabackend-sdxl.json'), '[]');
    await write(path.join(root, 'elsewhere/config.json'), JSON.stringify({ model_family: 'sdxl' }));
    await write(path.join(root, 'models/bert/config.json'), JSON.stringify({ hidden_size: 768 })); // a HF model config, not ours
    await write(path.join(root, 'node_modules/x/multidatabackend.json'), '[]');
    const found = await discoverConfigs(root);
    const rel = (p: string) => path.relative(root, p);
    assert.deepEqual(found.trainingConfigs.map((t) => [rel(t.path), t.environment ?? null]), [
      ['config/config.json', null], ['config/prod/config.toml', 'prod'], ['elsewhere/config.json', null],
    ]);
    assert.deepEqual(found.dataloaderConfigs.map((d) => rel(d.path)), ['config/custom-loader.json', 'config/dataloaders/people/multidatabackend.json', 'experiments/multidatabackend-sdxl.json']);
    assert.deepEqual(found.dataloaderConfigs[0]!.referencedBy, [path.join(root, 'config/config.json')]);
    assert.ok(isDataloaderConfigPath('/w/config/dataloaders/x/multidatabackend.json'));
    assert.ok(isDataloaderConfigPath('/w/multidatabackend-flux.json'));
    assert.ok(!isDataloaderConfigPath('/w/config/config.json'));
  });

  it('validates a training config together with the dataloader config it names', async () => {
    await write(path.join(root, 'config/config.json'), JSON.stringify({ '--data_backend_config': 'config/multidatabackend.json' }));
    await write(path.join(root, 'config/multidatabackend.json'), JSON.stringify([{ id: 'x', type: 'local', instance_data_dir: 'nowhere' }]));
    const r = await validateConfigFile(path.join(root, 'config/config.json'));
    assert.equal(r.length, 2);
    // No text_embeds dataset is fine: SimpleTuner creates a default one (factory.py _ensure_text_embed_backends_present).
    assert.deepEqual(r[1]!.diagnostics.map((d) => d.code).sort(), ['missing-path']);
    await fs.rm(path.join(root, 'config/multidatabackend.json'));
    const r2 = await validateConfigFile(path.join(root, 'config/config.json'));
    assert.equal(r2[0]!.diagnostics[0]!.code, 'missing-dataloader');
    assert.equal(r2[0]!.text.slice(r2[0]!.diagnostics[0]!.offset).startsWith('--data_backend_config'), true);
  });
});
