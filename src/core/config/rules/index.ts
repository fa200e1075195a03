import { CONFIG_RULES } from './config-rules';
import { DATASET_RULES } from './dataset-rules';
import type { Finding, OtherRule, Rule, RuleContext, Severity } from './types';

export * from './types';
export { CREDENTIAL_KEY } from './dataset-rules';

const other = (kind: OtherRule['kind'], code: string, severity: Severity, summary: string, mirrors: string): OtherRule => ({ kind, code, severity, summary, mirrors });

/** Checks made while reading the file (dataloader.ts, training.ts, validate.ts). */
export const PARSE_RULES: OtherRule[] = [
  other('parse', 'json-syntax', 'error', 'the file is strict JSON: no comments, no trailing commas (the first error, at its line and column, like json.load; training configs too)', 'data_backend/factory.py FactoryRegistry.load_configuration (json.load); configuration/json_file.py'),
  other('parse', 'shape', 'error', 'a dataloader config is a JSON list of datasets (an object with a "datasets" list is refused by the trainer)', 'data_backend/factory.py FactoryRegistry.load_configuration / sort_dataset_configs_by_dependencies'),
  other('parse', 'no-datasets', 'error', 'the list holds at least one dataset', 'data_backend/factory.py FactoryRegistry.load_configuration'),
  other('parse', 'dataset-shape', 'error', 'each entry is a JSON object', 'data_backend/factory.py sort_dataset_configs_by_dependencies (config.get)'),
  other('parse', 'missing-dataloader', 'error', 'the training config\'s data_backend_config names a file that exists', 'data_backend/factory.py FactoryRegistry.load_configuration'),
];

/** Checks that read the disk (check-paths.ts). */
export const DISK_RULES: OtherRule[] = [
  other('disk', 'missing-path', 'error', 'the instance_data_dir of an enabled local dataset (and a csv_file, parquet path) exists; paths with {env:…} are not checked', 'data_backend/factory.py FactoryRegistry._validate_dataset_paths'),
  other('disk', 'not-a-directory', 'error', 'instance_data_dir is a folder', 'data_backend/factory.py FactoryRegistry._validate_dataset_paths'),
  other('disk', 'not-a-file', 'error', 'csv_file and parquet paths are files', 'data_backend/builders/csv.py CsvBackendBuilder; metadata/backends/parquet.py'),
  other('disk', 'empty-dataset', 'error', 'an enabled local dataset\'s folder holds files', 'data_backend/factory.py FactoryRegistry._handle_config_versioning ("Dataset produced no usable samples")'),
];

/** Every check `validate` makes, in the order the README lists them. */
export const ALL_RULES: Rule[] = [...PARSE_RULES, ...DATASET_RULES, ...CONFIG_RULES, ...DISK_RULES];

export type RuleFinding = Finding & { code: string; severity: Severity };

/** Run the dataset rules on every enabled dataset, then the rules over the whole list. */
export function runRules(ctx: RuleContext): RuleFinding[] {
  const out: RuleFinding[] = [];
  for (const ds of ctx.enabled) {
    for (const rule of DATASET_RULES) for (const f of rule.check(ds, ctx)) out.push({ ...f, code: rule.code, severity: f.severity ?? rule.severity });
  }
  for (const rule of CONFIG_RULES) for (const f of rule.check(ctx)) out.push({ ...f, code: rule.code, severity: f.severity ?? rule.severity });
  return out;
}
