export type Severity = 'error' | 'warning';

/** What a rule is, for diagnostics and for the README ("what `validate` checks" is generated from this). */
export interface RuleMeta {
  code: string;
  /** The rule's usual severity; a finding may lower it when the outcome depends on something unknown here. */
  severity: Severity;
  /** One line for the README. */
  summary: string;
  /** The SimpleTuner check this mirrors: file and function (commit in simpletuner.ts), or "Cloud Training" for our own. */
  mirrors: string;
}

export interface Finding {
  /** Dataset index in the list; undefined = the list itself. */
  index?: number;
  /** JSON path inside the dataset (or the list); the nearest existing node is marked. */
  at?: Array<string | number>;
  /** Mark the property name instead of its value (for keys that must go). */
  key?: boolean;
  message: string;
  severity?: Severity;
}

/** One dataset as the rules see it. */
export interface DatasetView {
  index: number;
  id?: string;
  raw: Record<string, unknown>;
  disabled: boolean;
  /** `type` as SimpleTuner reads it for builders (`backend["type"]`); 'local' when missing (missing is its own error). */
  backendType: string;
  /** Normalised dataset_type (`conditioning_type` makes it conditioning); undefined when unknown. */
  datasetType?: string;
  /** A string field with the template variables SimpleTuner fills already filled ({env:…} kept); undefined if not a non-empty string. */
  text(field: string): string | undefined;
}

export interface RuleContext {
  datasets: DatasetView[];
  /** What SimpleTuner keeps: entries with "disabled"/"disable" are dropped before any other check. */
  enabled: DatasetView[];
  /** The training config's options (keys without "--"), when the dataloader is validated through it. */
  training?: Record<string, unknown>;
}

export interface DatasetRule extends RuleMeta { kind: 'dataset'; check(ds: DatasetView, ctx: RuleContext): Finding[] }
export interface ConfigRule extends RuleMeta { kind: 'config'; check(ctx: RuleContext): Finding[] }
/** Checks implemented outside the rule runner (parsing, the disk); listed for the README and the diagnostics' codes. */
export interface OtherRule extends RuleMeta { kind: 'parse' | 'disk' }
export type Rule = DatasetRule | ConfigRule | OtherRule;

export const dataset = (meta: RuleMeta, check: DatasetRule['check']): DatasetRule => ({ ...meta, kind: 'dataset', check });
export const config = (meta: RuleMeta, check: ConfigRule['check']): ConfigRule => ({ ...meta, kind: 'config', check });

/** `value in (None, "")`, SimpleTuner's test for a missing required value. */
export const isBlank = (v: unknown): boolean => v === undefined || v === null || v === '';
export const q = (v: unknown): string => JSON.stringify(v);
