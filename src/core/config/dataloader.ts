import { findNodeAtLocation, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { backendType, CREDENTIAL_KEY, DatasetEntrySchema, datasetType, LINK_FIELDS, PATH_FIELDS, type DatasetEntry, type PathField } from './dataloader-schema';
import type { ConfigDiagnostic } from './diagnostics';

export interface PathRef {
  field: PathField;
  /** As written in the file. */
  value: string;
  offset: number;
  length: number;
}

export interface ParsedDataset {
  index: number;
  id?: string;
  /** The entry as written (all fields, unknown ones included). */
  raw: Record<string, unknown>;
  /** Set when the entry passed the schema. */
  entry?: DatasetEntry;
  disabled: boolean;
  type: string;
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
}

/**
 * Parse a dataloader config and check everything that can be checked from the text alone (schema,
 * duplicate ids, dangling links, missing text-embed backend, credentials written in the file).
 * Checks that need the disk (missing or empty folders) are in `checkDatasetPaths`.
 */
export function parseDataloaderConfig(text: string, filePath: string): ParsedDataloader {
  const diagnostics: ConfigDiagnostic[] = [];
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  for (const e of errors) {
    diagnostics.push({ severity: 'error', code: 'json-syntax', offset: e.offset, length: Math.max(1, e.length), message: `JSON syntax error: ${printParseErrorCode(e.error)}. SimpleTuner reads this file with a strict JSON parser.` });
  }
  const out: ParsedDataloader = { filePath, shape: 'invalid', root: undefined, datasets: [], diagnostics };
  if (!tree) return out;
  out.root = nodeValue(tree);

  let list: Node | undefined;
  if (tree.type === 'array') { list = tree; out.shape = 'list'; }
  else if (tree.type === 'object') {
    list = findNodeAtLocation(tree, ['datasets']);
    if (list?.type === 'array') out.shape = 'object';
    else list = undefined;
  }
  if (!list) {
    diagnostics.push({ severity: 'error', code: 'shape', offset: tree.offset, length: 1, message: 'A dataloader config is a JSON list of datasets, or an object with a "datasets" list.' });
    return out;
  }
  if (!list.children?.length) {
    diagnostics.push({ severity: 'error', code: 'no-datasets', offset: list.offset, length: list.length, message: 'No datasets defined: add at least one image dataset and one text_embeds dataset.' });
  }

  (list.children ?? []).forEach((node, index) => {
    if (node.type !== 'object') {
      diagnostics.push({ severity: 'error', code: 'dataset-shape', offset: node.offset, length: node.length, message: 'Each dataset must be a JSON object with at least an "id".' });
      return;
    }
    out.datasets.push(readDataset(node, index, diagnostics));
  });
  checkIds(out.datasets, list, diagnostics);
  checkLinks(out.datasets, list, diagnostics);
  checkTextEmbeds(out.datasets, list, diagnostics);
  return out;
}

function readDataset(node: Node, index: number, diagnostics: ConfigDiagnostic[]): ParsedDataset {
  const raw = nodeValue(node) as Record<string, unknown>;
  const id = typeof raw.id === 'string' && raw.id ? raw.id : undefined;
  const parsed = DatasetEntrySchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // A missing field has no node of its own: point at the start of the dataset instead.
      const at = findNodeAtLocation(node, issue.path as (string | number)[]);
      diagnostics.push({
        severity: 'error', code: at ? 'schema' : 'missing-field',
        offset: (at ?? node).offset, length: at ? at.length : 1,
        message: issue.message, datasetId: id,
      });
    }
  }
  const ds: ParsedDataset = {
    index, id, raw, entry: parsed.success ? parsed.data : undefined,
    disabled: raw.disabled === true,
    type: typeof raw.type === 'string' ? raw.type : backendType({}),
    datasetType: typeof raw.dataset_type === 'string' ? raw.dataset_type : datasetType({}),
    offset: node.offset, length: node.length, paths: [],
  };
  for (const field of Object.keys(PATH_FIELDS) as (keyof typeof PATH_FIELDS)[]) addPath(ds, node, field, [field]);
  addPath(ds, node, 'parquet.path', ['parquet', 'path']);

  for (const prop of node.children ?? []) {
    const [keyNode, valueNode] = prop.children ?? [];
    const key = keyNode?.value;
    if (typeof key !== 'string' || !valueNode || !CREDENTIAL_KEY.test(key)) continue;
    if (valueNode.type === 'string' && valueNode.value) {
      diagnostics.push({ severity: 'error', code: 'credential-in-file', offset: valueNode.offset, length: valueNode.length, datasetId: id,
        message: `"${key}" holds a credential in the file, which would be packaged and uploaded with it. Remove it and use the environment (e.g. AWS_SECRET_ACCESS_KEY) or an AWS profile instead.` });
    }
  }
  const needsDir = ds.type === 'local' && !ds.disabled && ['image', 'video', 'audio', 'conditioning'].includes(ds.datasetType);
  if (needsDir && !ds.paths.some((p) => p.field === 'instance_data_dir')) {
    const idNode = findNodeAtLocation(node, ['id']);
    diagnostics.push({ severity: 'error', code: 'missing-instance-data-dir', offset: (idNode ?? node).offset, length: idNode ? idNode.length : 1, datasetId: id,
      message: `Local ${ds.datasetType} dataset${id ? ` "${id}"` : ''} has no "instance_data_dir": add the folder that holds its files.` });
  }
  return ds;
}

function addPath(ds: ParsedDataset, node: Node, field: PathField, location: string[]): void {
  const v = findNodeAtLocation(node, location);
  if (v?.type === 'string' && typeof v.value === 'string' && v.value.trim()) ds.paths.push({ field, value: v.value, offset: v.offset, length: v.length });
}

function checkIds(datasets: ParsedDataset[], list: Node, diagnostics: ConfigDiagnostic[]): void {
  const seen = new Map<string, ParsedDataset>();
  for (const ds of datasets) {
    if (!ds.id) continue;
    const first = seen.get(ds.id);
    if (first) {
      const idNode = findNodeAtLocation(list, [ds.index, 'id'])!;
      diagnostics.push({ severity: 'error', code: 'duplicate-id', offset: idNode.offset, length: idNode.length, datasetId: ds.id,
        message: `Duplicate dataset id "${ds.id}" (also dataset #${first.index + 1}): every id must be unique; rename one.` });
    } else seen.set(ds.id, ds);
  }
}

function checkLinks(datasets: ParsedDataset[], list: Node, diagnostics: ConfigDiagnostic[]): void {
  const byId = new Map(datasets.filter((d) => d.id).map((d) => [d.id!, d]));
  for (const ds of datasets) {
    for (const [field, wantType] of Object.entries(LINK_FIELDS)) {
      const node = findNodeAtLocation(list, [ds.index, field]);
      if (!node) continue;
      const targets = node.type === 'array' ? node.children ?? [] : [node];
      for (const t of targets) {
        if (t.type !== 'string' || typeof t.value !== 'string') continue;
        const target = byId.get(t.value);
        if (!target) {
          diagnostics.push({ severity: 'error', code: 'unknown-link', offset: t.offset, length: t.length, datasetId: ds.id,
            message: `"${field}" refers to dataset id "${t.value}", which is not defined in this file. Known ids: ${[...byId.keys()].join(', ') || 'none'}.` });
        } else if (wantType && target.datasetType !== wantType) {
          diagnostics.push({ severity: 'error', code: 'link-type', offset: t.offset, length: t.length, datasetId: ds.id,
            message: `"${field}" must name a dataset with "dataset_type": "${wantType}", but "${t.value}" is ${target.datasetType}.` });
        } else if (target.disabled) {
          diagnostics.push({ severity: 'warning', code: 'link-disabled', offset: t.offset, length: t.length, datasetId: ds.id,
            message: `"${field}" refers to "${t.value}", which is disabled.` });
        }
      }
    }
  }
}

function checkTextEmbeds(datasets: ParsedDataset[], list: Node, diagnostics: ConfigDiagnostic[]): void {
  const active = datasets.filter((d) => !d.disabled);
  const media = active.filter((d) => ['image', 'video', 'audio'].includes(d.datasetType));
  const embeds = active.filter((d) => d.datasetType === 'text_embeds');
  if (!media.length) return;
  if (!embeds.length) {
    diagnostics.push({ severity: 'error', code: 'no-text-embeds', offset: list.offset, length: 1,
      message: 'No text_embeds backend: add a dataset with "dataset_type": "text_embeds", "default": true and a "cache_dir" where SimpleTuner stores the text embeddings.' });
  } else if (!embeds.some((d) => d.raw.default === true) && embeds.length > 1) {
    diagnostics.push({ severity: 'error', code: 'no-default-text-embeds', offset: embeds[0]!.offset, length: 1,
      message: `Several text_embeds datasets (${embeds.map((d) => d.id).join(', ')}) but none has "default": true: mark the one SimpleTuner should use by default.` });
  }
}

function nodeValue(node: Node): unknown {
  switch (node.type) {
    case 'object': return Object.fromEntries((node.children ?? []).filter((p) => p.children?.length === 2).map((p) => [p.children![0]!.value as string, nodeValue(p.children![1]!)]));
    case 'array': return (node.children ?? []).map(nodeValue);
    default: return node.value;
  }
}
