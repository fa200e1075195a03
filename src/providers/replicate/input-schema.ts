/**
 * Check our inputs against a model version's `openapi_schema` (Cog's `Input` / `TrainingInput`
 * component) before submitting, so a mismatch is reported in words instead of as a failed job.
 * Covers what Cog emits: required, type, enum (via allOf/$ref), minimum/maximum, additionalProperties.
 */
type JsonSchema = Record<string, unknown>;

export interface InputCheck { ok: boolean; problems: string[]; knownKeys: Set<string>; allowsExtra: boolean }

export function inputComponent(openapi: unknown, component: 'Input' | 'TrainingInput'): JsonSchema | undefined {
  const schemas = (openapi as { components?: { schemas?: Record<string, JsonSchema> } } | undefined)?.components?.schemas;
  return schemas?.[component];
}

export function checkInput(openapi: unknown, component: 'Input' | 'TrainingInput', input: Record<string, unknown>): InputCheck {
  const root = inputComponent(openapi, component);
  if (!root) return { ok: true, problems: [], knownKeys: new Set(), allowsExtra: true };
  const resolve = (s: JsonSchema): JsonSchema => resolveRefs(openapi, s);
  const props = (root.properties ?? {}) as Record<string, JsonSchema>;
  const required = Array.isArray(root.required) ? (root.required as string[]) : [];
  const allowsExtra = root.additionalProperties !== false;
  const problems: string[] = [];
  for (const key of required) {
    if (input[key] === undefined || input[key] === null) problems.push(`missing required input "${key}"`);
  }
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const prop = props[key];
    if (!prop) {
      if (!allowsExtra) problems.push(`the model has no input "${key}"`);
      continue;
    }
    const p = resolve(prop);
    if (value === null) continue;
    const problem = checkValue(p, value);
    if (problem) problems.push(`input "${key}" ${problem}`);
  }
  return { ok: problems.length === 0, problems, knownKeys: new Set(Object.keys(props)), allowsExtra };
}

function checkValue(s: JsonSchema, v: unknown): string | undefined {
  const type = s.type as string | undefined;
  if (type) {
    const ok =
      type === 'string' ? typeof v === 'string'
      : type === 'integer' ? typeof v === 'number' && Number.isInteger(v)
      : type === 'number' ? typeof v === 'number'
      : type === 'boolean' ? typeof v === 'boolean'
      : type === 'array' ? Array.isArray(v)
      : type === 'object' ? typeof v === 'object' && !Array.isArray(v)
      : true;
    if (!ok) return `must be ${type === 'integer' ? 'an' : 'a'} ${type}, got ${Array.isArray(v) ? 'array' : typeof v}`;
  }
  if (Array.isArray(s.enum) && !s.enum.includes(v)) return `must be one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`;
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) return `must be ≥ ${s.minimum}`;
    if (typeof s.maximum === 'number' && v > s.maximum) return `must be ≤ ${s.maximum}`;
  }
  if (s.format === 'uri' && typeof v === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(v)) return 'must be a URL';
  return undefined;
}

/** Inline `$ref` and fold `allOf` (Cog wraps enums as allOf:[{$ref}]). Depth-limited against cycles. */
function resolveRefs(openapi: unknown, s: JsonSchema, depth = 0): JsonSchema {
  if (depth > 8) return s;
  let out: JsonSchema = { ...s };
  if (typeof out.$ref === 'string') {
    const target = lookup(openapi, out.$ref);
    const { $ref: _ignored, ...rest } = out;
    out = { ...resolveRefs(openapi, target ?? {}, depth + 1), ...rest };
  }
  if (Array.isArray(out.allOf)) {
    const parts = (out.allOf as JsonSchema[]).map((p) => resolveRefs(openapi, p, depth + 1));
    const { allOf: _ignored, ...rest } = out;
    out = Object.assign({}, ...parts, rest);
  }
  return out;
}

function lookup(openapi: unknown, ref: string): JsonSchema | undefined {
  if (!ref.startsWith('#/')) return undefined;
  let cur: unknown = openapi;
  for (const part of ref.slice(2).split('/')) cur = (cur as Record<string, unknown> | undefined)?.[part];
  return cur as JsonSchema | undefined;
}
