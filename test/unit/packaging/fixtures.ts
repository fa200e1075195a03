import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export async function tempDir(prefix = 'ct-pack-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function write(file: string, data: string | Buffer = 'x'): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, data);
  return file;
}

/** A SimpleTuner-shaped workspace: config/ + datasets/<name>/ with a few images and captions. */
export async function makeWorkspace(root: string, opts: { datasets?: Record<string, Record<string, string | Buffer>>; extraEntries?: object[] } = {}): Promise<{ dataloader: string; training: string }> {
  const sets = opts.datasets ?? { portraits: { 'a.jpg': Buffer.alloc(2048, 1), 'a.txt': 'a photo of sks person', 'sub/b.png': Buffer.alloc(1000, 2), 'sub/b.txt': 'caption b' } };
  const entries: object[] = [];
  for (const [name, files] of Object.entries(sets)) {
    for (const [rel, data] of Object.entries(files)) await write(path.join(root, 'datasets', name, rel), data);
    entries.push({ id: name, type: 'local', instance_data_dir: `datasets/${name}`, caption_strategy: 'textfile', resolution: 1024, cache_dir_vae: `cache/vae/${name}`, crop: false, my_future_option: { keep: true } });
  }
  entries.push({ id: 'text-embeds', type: 'local', dataset_type: 'text_embeds', default: true, cache_dir: 'cache/text' }, ...(opts.extraEntries ?? []));
  const dataloader = await write(path.join(root, 'config', 'multidatabackend.json'), JSON.stringify(entries, null, 2));
  const training = await write(path.join(root, 'config', 'config.json'), JSON.stringify({ '--model_type': 'lora', '--data_backend_config': 'config/multidatabackend.json', '--hub_token': 'hf_secret_value', 'output_dir': 'output' }, null, 2));
  return { dataloader, training };
}
