import { findNodeAtLocation, type Node } from 'jsonc-parser';
import { DatasetEntrySchema, PATH_FIELDS, type DatasetEntry, type PathField } from './dataloader-schema';
import type { ConfigDiagnostic } from './diagnostics';
import { parseStrictJson } from './json-syntax';
import { runRules, type DatasetView, type RuleContext, type RuleFinding } from './rules';
import { isDisabled, normaliseDatasetType } from './simpletuner';
import { expandTemplate, type TemplateValues } from './template-vars';

export interface PathRef {
  field: PathField;
  /** As written in the file. */
  value: string;
  /** With the template variables SimpleTuner fills ({id}, {model_family}, {output_dir}) filled. */
  expanded: string;
  /** False when the path depends on the training machine ({env:…}, or an option not known here): not checked or packaged. */
  resolvable: boolean;
  offset: number;
  length: number;
}

export interface ParsedDataset {
  index: number;
  id?: string;
  /** The entry as written (all fields, unknown ones included). */
  raw: Record<string, unknown>;
  /** Set when the entry has the basic shape (a string id). */
  entry?: DatasetEntry;
  /** SimpleTuner's "disabled" or its alias "disable", read as Python reads them (truthy). */
  disabled: boolean;
  /** `type` as written, 'local' when missing. */
  type: string;
  /** Normalised dataset_type ('image' when missing; as written when unknown). */
  datasetType: string;
  /** The `{ ... }` of this dataset in the text. */
  offset: number;
  length: number;
  paths: PathRef[];
}

export interface ParsedDataloader {
  filePath: string;
  /** `list` = a bare JSON array; `object` = `{"datasets": [...]}` (other top-level keys are kept). */
  shape: 'list' | 'object' | 'invalid';
  root: unknown;
  datasets: ParsedDataset[];
  diagnostics: ConfigDiagnostic[];
  /** True when the text is not valid JSON: nothing else was checked. */
  syntaxErrors?: boolean;
}

export interface DataloaderOptions {
  /** The training config's options (keys without "--"): global defaults such as caption_strategy, instance_prompt, output_dir. */
  training?: Record<string, unknown>;
}

/**
 * Parse a dataloader config and check, as SimpleTuner does, everything that can be checked from the
 * text alone (rules/). Checks that need the disk (missing or empty folders) are in `checkDatasetPaths`.
 */
export function parseDataloaderConfig(text: string, filePath: string, opts: DataloaderOptions = {}): ParsedDataloader {
  const { tree, diagnostics } = parseStrictJson(text);
  const out: ParsedDataloader = { filePath, shape: 'invalid', root: undefined, datasets: [], diagnostics, syntaxErrors: diagnostics.length > 0 };
  if (!tree) return out;
  out.root = nodeValue(tree);

  let list: Node | undefined;
  if (tree.type === 'array') { list = tree; out.shape = 'list'; }
  else if (tree.type === 'object') {
    list = findNodeAtLocation(tree, ['datasets']);
    if (list?.type === 'array') {
      out.shape = 'object';
      // SimpleTuner's trainer iterates the top-level value as the dataset list; an object's keys are not datasets.
      const key = list.parent?.children?.[0];
      if (!out.syntaxErrors) diagnostics.push({ severity: 'error', code: 'shape', offset: key?.offset ?? tree.offset, length: key?.length ?? 1, message: 'SimpleTuner\'s trainer reads a dataloader config as a JSON list of datasets; an object with a "datasets" list fails at start-up. Make the file the list itself.' });
    } else list = undefined;
  }
  if (!list) {
    if (!out.syntaxErrors) diagnostics.push({ severity: 'error', code: 'shape', offset: tree.offset, length: 1, message: 'A dataloader config is a JSON list of datasets.' });
    return out;
  }
  const training = opts.training;
  const templateValues = (id: string): TemplateValues => ({
    id,
    model_family: typeof training?.model_family === 'string' ? training.model_family : undefined,
    // SimpleTuner's default output_dir is .simpletuner_output in its working directory.
    output_dir: training ? (typeof training.output_dir === 'string' && training.output_dir ? training.output_dir : '.simpletuner_output') : undefined,
  });

  const views: DatasetView[] = [];
  (list.children ?? []).forEach((node, index) => {
    if (node.type !== 'object') {
      if (!out.syntaxErrors) diagnostics.push({ severity: 'error', code: 'dataset-shape', offset: node.offset, length: node.length, message: 'Each dataset must be a JSON object with at least an "id".' });
      return;
    }
    const ds = readDataset(node, index, templateValues);
    out.datasets.push(ds);
    views.push(viewOf(ds, templateValues));
  });
  if (out.syntaxErrors) return out;
  if (!list.children?.length) {
    diagnostics.push({ severity: 'error', code: 'no-datasets', offset: list.offset, length: list.length, message: 'No datasets defined: SimpleTuner needs at least one dataset to train on.' });
    return out;
  }
  const ctx: RuleContext = { datasets: views, enabled: views.filter((v) => !v.disabled), training };
  for (const f of runRules(ctx)) diagnostics.push(locate(f, list, out.datasets));
  return out;
}

function readDataset(node: Node, index: number, templateValues: (id: string) => TemplateValues): ParsedDataset {
  const raw = nodeValue(node) as Record<string, unknown>;
  const id = typeof raw.id === 'string' && raw.id ? raw.id : undefined;
  const parsed = DatasetEntrySchema.safeParse(raw);
  const ds: ParsedDataset = {
    index, id, raw, entry: parsed.success ? parsed.data : undefined,
    disabled: isDisabled(raw),
    type: typeof raw.type === 'string' ? raw.type : 'local',
    datasetType: typeof raw.dataset_type === 'string' ? (normaliseDatasetType(raw.dataset_type) ?? raw.dataset_type) : 'image',
    offset: node.offset, length: node.length, paths: [],
  };
  const vars = templateValues(id ?? '');
  const addPath = (field: PathField, location: string[]) => {
    const v = findNodeAtLocation(node, location);
    if (v?.type !== 'string' || typeof v.value !== 'string' || !v.value.trim()) return;
    const e = expandTemplate(v.value, vars);
    ds.paths.push({ field, value: v.value, expanded: e.value, resolvable: e.resolved, offset: v.offset, length: v.length });
  };
  for (const field of Object.keys(PATH_FIELDS) as (keyof typeof PATH_FIELDS)[]) addPath(field, [field]);
  addPath('parquet.path', ['parquet', 'path']);
  return ds;
}

function viewOf(ds: ParsedDataset, templateValues: (id: string) => TemplateValues): DatasetView {
  const vars = templateValues(ds.id ?? '');
  const expand = (field: string) => {
    const v = ds.raw[field];
    return typeof v === 'string' && v.trim() ? expandTemplate(v, vars) : undefined;
  };
  // factory.py _configure_single_data_backend: a conditioning_type makes the dataset a conditioning set.
  const declared = normaliseDatasetType(ds.raw.dataset_type);
  const conditioning = ds.raw.conditioning_type !== undefined && ds.raw.conditioning_type !== null && (declared === 'image' || declared === 'conditioning');
  return {
    index: ds.index, id: ds.id, raw: ds.raw, disabled: ds.disabled, backendType: ds.type,
    datasetType: conditioning ? 'conditioning' : declared,
    text: (f) => expand(f)?.value,
  };
}

/** The finding's place in the text: the node at its path (or the nearest existing parent), else the dataset's id. */
function locate(f: RuleFinding, list: Node, datasets: ParsedDataset[]): ConfigDiagnostic {
  const base = { severity: f.severity, code: f.code, message: f.message };
  const ds = f.index === undefined ? undefined : datasets.find((d) => d.index === f.index);
  const root = f.index === undefined ? list : list.children?.[f.index];
  let node: Node | undefined;
  let matched = 0;
  for (let n = f.at?.length ?? 0; root && n > 0 && !node; n--) { node = findNodeAtLocation(root, f.at!.slice(0, n)); matched = n; }
  // A key that must go is marked by its name, when the path reached it exactly.
  if (node && f.key && matched === f.at!.length && node.parent?.type === 'property') node = node.parent.children?.[0] ?? node;
  node ??= root ? findNodeAtLocation(root, ['id']) : undefined;
  if (node) return { ...base, offset: node.offset, length: node.length, ...(ds?.id ? { datasetId: ds.id } : {}) };
  const at = root ?? list;
  return { ...base, offset: at.offset, length: 1, ...(ds?.id ? { datasetId: ds.id } : {}) };
}

function nodeValue(node: Node): unknown {
  switch (node.type) {
    case 'object': return Object.fromEntries((node.children ?? []).filter((p) => p.children?.length === 2).map((p) => [p.children![0]!.value as string, nodeValue(p.children![1]!)]));
    case 'array': return (node.children ?? []).map(nodeValue);
    default: return node.value;
  }
}
