// Facts about the example workspace, computed from its files so that scenarios compare the UI
// against the truth rather than against numbers copied into the test.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const DATALOADER = 'config/multidatabackend.json';

export function countFiles(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((n, e) =>
    n + (e.isDirectory() ? countFiles(path.join(dir, e.name)) : e.isFile() ? 1 : 0), 0);
}

/** Image files under `dir` (what Replicate's archive route sends of a dataset). */
export function countImages(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((n, e) =>
    n + (e.isDirectory() ? countImages(path.join(dir, e.name)) : e.isFile() && /\.(png|jpe?g|webp|bmp|tiff?|jxl|avif)$/i.test(e.name) ? 1 : 0), 0);
}

export interface ExampleDatasets {
  all: Array<{ id: string; type?: string; instance_data_dir?: string }>;
  /** Local datasets with a folder, and the number of files in it. */
  local: Array<{ id: string; dir: string; files: number }>;
  localFiles: number;
}

export function exampleDatasets(workspaceDir: string): ExampleDatasets {
  const raw = JSON.parse(readFileSync(path.join(workspaceDir, DATALOADER), 'utf8')) as unknown;
  const all = (Array.isArray(raw) ? raw : (raw as { datasets: unknown[] }).datasets) as ExampleDatasets['all'];
  const local = all.filter((d) => (d.type ?? 'local') === 'local' && d.instance_data_dir)
    .map((d) => {
      const dir = path.join(workspaceDir, d.instance_data_dir!);
      return { id: d.id, dir, files: countFiles(dir) };
    });
  return { all, local, localFiles: local.reduce((n, d) => n + d.files, 0) };
}
