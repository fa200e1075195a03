import { parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import type { ConfigDiagnostic } from './diagnostics';

const HINTS: Partial<Record<string, string>> = {
  InvalidCommentToken: 'comments are not JSON',
  PropertyNameExpected: 'a property name in double quotes',
  ValueExpected: 'a value',
  CommaExpected: 'a comma between items',
  ColonExpected: 'a colon after the property name',
  CloseBraceExpected: 'a closing }',
  CloseBracketExpected: 'a closing ]',
  EndOfFileExpected: 'the end of the file (only one top-level value)',
};

/**
 * Parse JSON as strictly as Python's json.load (SimpleTuner's reader): comments and trailing commas are
 * errors. Like json.load, only the first error is reported (what follows it is the parser's guesswork),
 * at the exact offset, saying what was expected.
 */
export function parseStrictJson(text: string): { tree?: Node; diagnostics: ConfigDiagnostic[] } {
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  const diagnostics = errors.slice(0, 1).map((e): ConfigDiagnostic => {
    const name = printParseErrorCode(e.error);
    const before = text.slice(0, e.offset).trimEnd();
    const trailing = before.endsWith(',') && /^\s*[}\]]/.test(text.slice(e.offset));
    const what = trailing ? 'a trailing comma (JSON allows none; remove it)' : `expected ${HINTS[name] ?? name}`;
    // A trailing comma is marked on the comma itself, where the fix goes.
    const offset = trailing ? before.length - 1 : e.offset;
    return { severity: 'error', code: 'json-syntax', offset, length: Math.max(1, trailing ? 1 : e.length), message: `JSON syntax error: ${what}. SimpleTuner reads this file with a strict JSON parser.` };
  });
  return { tree, diagnostics };
}
