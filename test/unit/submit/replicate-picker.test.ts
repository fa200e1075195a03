import assert from 'node:assert/strict';
import { installVscodeShim, shim } from './vscode-shim';

installVscodeShim();
// Loaded after the shim so `import * as vscode from 'vscode'` resolves to it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { pickReplicateOptions } = require('../../../src/vscode/submit/replicate-options') as typeof import('../../../src/vscode/submit/replicate-options');

/** globalState as VS Code keeps it (a Memento). */
class Memory {
  readonly values = new Map<string, unknown>();
  keys() { return [...this.values.keys()]; }
  get<T>(key: string, fallback?: T): T | undefined { return (this.values.has(key) ? this.values.get(key) : fallback) as T | undefined; }
  async update(key: string, value: unknown) { this.values.set(key, value); }
}

describe('Submit… → Replicate: Automatic falls back to the bucket/repo chosen last', () => {
  let seen: { label: string; description?: string }[];
  beforeEach(() => { shim.reset(); seen = []; });
  afterEach(() => shim.reset());
  /** Pick the trainer, then the route whose label starts with `route`; answer input boxes in order. */
  const script = (route: string, answers: string[] = []) => {
    shim.pick = (items, placeHolder) => {
      if (/What should train/.test(placeHolder ?? '')) return items[0];
      seen = items;
      return items.find((i) => i.label.startsWith(route));
    };
    shim.inputBox = () => answers.shift();
  };

  it('nothing chosen before: Automatic means archive or refuse; choosing a bucket remembers it (no secrets); Automatic then falls back to it', async () => {
    const memory = new Memory();
    script('Automatic');
    assert.deepEqual(await pickReplicateOptions(memory as never), {});
    assert.equal(seen[0]!.description, 'archive when the dataloader fits it');

    script('S3 bucket', ['s3://datasets/team', 'https://tunnel.example/api/cloud/storage']);
    const s3 = await pickReplicateOptions(memory as never);
    assert.deepEqual(s3, { data: { kind: 's3', bucket: 'datasets', prefix: 'team', endpoint: 'https://tunnel.example/api/cloud/storage' } });
    assert.deepEqual(memory.keys(), ['cloudTraining.replicate.lastDataLocation']);

    script('Automatic');
    assert.deepEqual(await pickReplicateOptions(memory as never), { data: { kind: 'auto', fallback: s3!.data } });
    assert.equal(seen[0]!.description, 'archive when the dataloader fits it, else s3://datasets/team');

    script('HuggingFace', ['me/training-data']);
    await pickReplicateOptions(memory as never);
    script('Automatic');
    assert.deepEqual(await pickReplicateOptions(memory as never), { data: { kind: 'auto', fallback: { kind: 'hf', repo: 'me/training-data' } } });
  });

  it('a damaged remembered value is ignored, not sent', async () => {
    const memory = new Memory();
    await memory.update('cloudTraining.replicate.lastDataLocation', { kind: 's3', bucket: '' });
    script('Automatic');
    assert.deepEqual(await pickReplicateOptions(memory as never), {});
  });
});
