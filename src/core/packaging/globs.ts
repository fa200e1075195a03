/**
 * Minimal glob → RegExp for exclusion patterns (`*`, `**`, `?`, `{a,b}`, `[abc]`), matched against
 * '/'-separated relative paths. A pattern without '/' matches the basename at any depth (gitignore style).
 */
export function globToRegExp(glob: string): RegExp {
  let g = glob.trim().replace(/\\/g, '/');
  const anchored = g.includes('/') && !g.startsWith('**/');
  if (g.startsWith('/')) g = g.slice(1);
  // `dir/` names a folder: match it (and so skip everything under it) wherever the pattern is anchored.
  while (g.endsWith('/')) g = g.slice(0, -1);
  let re = '';
  let inBraces = 0;
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*') {
      if (g[i + 1] === '*') {
        // `**/` matches zero or more directories; a trailing `**` matches everything below.
        const slash = g[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') { inBraces++; re += '(?:'; }
    else if (c === '}' && inBraces) { inBraces--; re += ')'; }
    else if (c === ',' && inBraces) re += '|';
    else if (c === '[') {
      const end = g.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else { re += `[${g.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`; i = end; }
    } else re += /[.+^$()|\\]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(anchored ? `^${re}(?:/.*)?$` : `(?:^|/)${re}(?:/.*)?$`, 'i');
}

export function compileGlobs(globs: readonly string[] = []): (relPath: string) => string | undefined {
  const compiled = globs.filter((g) => g.trim()).map((g) => ({ g, re: globToRegExp(g) }));
  return (relPath) => compiled.find((c) => c.re.test(relPath))?.g;
}
