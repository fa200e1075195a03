import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface OutputFile { abs: string; rel: string; size: number }

/** Regular files under `root` (symlinks are not followed: they could point anywhere), `/`-separated. */
export async function listOutputFiles(root: string): Promise<OutputFile[]> {
  const out: OutputFile[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    for (const d of await fs.readdir(dir, { withFileTypes: true })) {
      const abs = path.join(dir, d.name);
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) await walk(abs, r);
      else if (d.isFile()) out.push({ abs, rel: r, size: (await fs.stat(abs)).size });
    }
  }
  await walk(root, '');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : 1));
}

export function joinKey(prefix: string, rel: string): string {
  const p = prefix.replace(/^\/+/, '');
  return p === '' ? rel : p.endsWith('/') ? `${p}${rel}` : `${p}/${rel}`;
}
