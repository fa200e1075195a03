import { promises as fs } from 'node:fs';
import { PATH_FIELDS } from './dataloader-schema';
import type { ParsedDataloader } from './dataloader';
import type { ConfigDiagnostic } from './diagnostics';
import { resolveConfigPath } from './paths';

/**
 * The checks that need the disk (factory.py FactoryRegistry._validate_dataset_paths, bc8e6ab): the folders
 * and files an enabled local dataset reads exist, and its data folder is not empty. Cache folders may be
 * missing (the trainer creates them); paths that depend on the training machine ({env:…}) are not checked.
 */
export async function checkDatasetPaths(parsed: ParsedDataloader, workspaceRoot?: string): Promise<ConfigDiagnostic[]> {
  const out: ConfigDiagnostic[] = [];
  if (parsed.syntaxErrors) return out;
  for (const ds of parsed.datasets) {
    if (ds.disabled || ds.type !== 'local' && ds.type !== 'csv') continue;
    for (const p of ds.paths) {
      const kind = p.field === 'parquet.path' ? 'content' : PATH_FIELDS[p.field];
      if (kind !== 'content' || !p.resolvable) continue;
      // SimpleTuner reads instance_data_dir only on local datasets; a csv dataset's folder is its download cache.
      if (ds.type === 'csv' && p.field !== 'csv_file') continue;
      const abs = await resolveConfigPath(p.expanded, parsed.filePath, workspaceRoot);
      const at = { offset: p.offset, length: p.length, datasetId: ds.id };
      let st;
      try { st = await fs.stat(abs); } catch {
        out.push({ ...at, severity: 'error', code: 'missing-path', message: `"${p.field}" points to ${abs}, which does not exist. Create it or fix the path (relative paths are resolved from the folder that holds config/).` });
        continue;
      }
      const wantDir = p.field === 'instance_data_dir' || p.field === 'instance_data_root';
      if (wantDir && !st.isDirectory()) {
        out.push({ ...at, severity: 'error', code: 'not-a-directory', message: `"${p.field}" must be a folder, but ${abs} is a file.` });
      } else if (!wantDir && !st.isFile()) {
        out.push({ ...at, severity: 'error', code: 'not-a-file', message: `"${p.field}" must be a file, but ${abs} is a folder.` });
      } else if (wantDir && ['image', 'video', 'audio', 'conditioning'].includes(ds.datasetType) && !(await hasAnyFile(abs))) {
        out.push({ ...at, severity: 'error', code: 'empty-dataset', message: `Dataset "${ds.id ?? ds.index + 1}" is empty: ${abs} holds no files. Add images (with captions) or disable the dataset.` });
      }
    }
  }
  return out;
}

/** True as soon as one file is found (stops early: this runs on every edit). */
async function hasAnyFile(dir: string, depth = 4): Promise<boolean> {
  let entries;
  try { entries = await fs.readdir(dir, { withFileTypes: true }); } catch { return false; }
  if (entries.some((e) => e.isFile() || e.isSymbolicLink())) return true;
  if (depth <= 0) return false;
  for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.') && (await hasAnyFile(`${dir}/${e.name}`, depth - 1))) return true;
  return false;
}
