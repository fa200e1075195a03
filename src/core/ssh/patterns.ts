/**
 * OpenSSH pattern matching (ssh_config `Host`, known_hosts host fields): `*` and `?` wildcards,
 * comma- or space-separated lists, `!pattern` negation. A negated match vetoes the whole list.
 */
export function matchPattern(name: string, pattern: string, ignoreCase = true): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, ignoreCase ? 'i' : '');
  return re.test(name);
}

/** True when some positive pattern matches and no negated one does. */
export function matchPatternList(name: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (matchPattern(name, p.slice(1))) return false;
    } else if (matchPattern(name, p)) {
      matched = true;
    }
  }
  return matched;
}
