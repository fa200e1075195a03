/**
 * SimpleTuner fills `{id}`, `{model_family}`, `{output_dir}` and `{env:VAR}` in every string of a dataset
 * before it checks anything (factory.py fill_variables_in_config_paths → configuration/template_vars.py
 * resolve_string_placeholders, bc8e6ab). Other `{...}` stay as written.
 */
const PLACEHOLDER = /\{([^{}]+)\}/g;

export interface TemplateValues {
  id: string;
  /** From the training config; undefined when it is not known here. */
  model_family?: string;
  output_dir?: string;
}

export interface Expanded {
  value: string;
  /** False when the value depends on something only the training machine knows (`{env:…}`, an unknown option). */
  resolved: boolean;
}

export function expandTemplate(value: string, vars: TemplateValues): Expanded {
  let resolved = true;
  const out = value.replace(PLACEHOLDER, (whole, token: string) => {
    if (token.startsWith('env:')) { resolved = false; return whole; }
    if (token === 'id') return vars.id;
    if (token === 'model_family' || token === 'output_dir') {
      const v = vars[token];
      if (v === undefined) { resolved = false; return whole; }
      return v;
    }
    return whole;
  });
  return { value: out, resolved };
}

/** Does the value read a secret from the environment (`{env:VAR}`) instead of holding it? */
export const referencesEnv = (value: string): boolean => /\{env:[^{}]+\}/.test(value);
