import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { matchPattern, matchPatternList } from './patterns';

/**
 * A reader for OpenSSH client config (`~/.ssh/config`) with ssh's own semantics:
 * - `Include` is honoured wherever it appears (top level or inside a `Host`/`Match` block, globs,
 *   relative paths taken from ~/.ssh); lines of an included file apply only when the enclosing block
 *   applies, and the enclosing block resumes after the include.
 * - `Host` lists with `*`/`?` wildcards and `!negation`; `Match all` / `Match host` / `Match originalhost`;
 *   other `Match` criteria (exec, user, ...) are treated as not matching so we never apply options we
 *   cannot evaluate.
 * - For each keyword the FIRST value obtained wins; `IdentityFile` accumulates.
 */

export interface SshDirective {
  key: string; // lower-case keyword
  args: string[];
  file: string;
  line: number;
  /** All must hold for the directive to apply. */
  conditions: SshCondition[];
}

export type SshCondition =
  | { kind: 'host'; patterns: string[] }
  | { kind: 'match'; criteria: Array<{ name: string; patterns: string[] }> }
  | { kind: 'never' };

export interface SshHostEntry { alias: string; file: string; line: number }

export interface JumpSpec { user?: string; host: string; port?: number }

export interface ResolvedSshHost {
  /** What the user typed / picked. */
  alias: string;
  hostName: string;
  user?: string;
  port: number;
  identityFiles: string[];
  identitiesOnly: boolean;
  identityAgent?: string;
  proxyJump: JumpSpec[];
  userKnownHostsFiles: string[];
  /** Read for verification, never written. */
  globalKnownHostsFiles: string[];
  connectTimeoutSeconds?: number;
  serverAliveIntervalSeconds?: number;
}

export interface SshConfigLoadOptions {
  /** Home folder for `~`, `%d` and relative Include paths (default os.homedir()). */
  home?: string;
  /** Local user name for `%u` (default os.userInfo().username). */
  localUser?: string;
  /** Problems found while reading; never fatal. */
  onWarning?: (message: string) => void;
}

const MAX_INCLUDE_DEPTH = 16;
/** Keywords that may be given several times and accumulate (all other keywords: first wins). */
const MULTI = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward', 'sendenv', 'setenv']);

export class SshConfig {
  constructor(readonly directives: SshDirective[], readonly home: string, readonly localUser: string) {}

  /** Concrete host aliases (no wildcards, no negation) in file order, for a host picker. */
  hosts(): SshHostEntry[] {
    const seen = new Set<string>();
    const out: SshHostEntry[] = [];
    for (const d of this.directives) {
      if (d.key !== 'host') continue;
      for (const a of d.args) {
        if (/[*?!]/.test(a) || seen.has(a.toLowerCase())) continue;
        seen.add(a.toLowerCase());
        out.push({ alias: a, file: d.file, line: d.line });
      }
    }
    return out;
  }

  /** Options for `alias` as `ssh alias` would compute them. */
  resolve(alias: string): ResolvedSshHost {
    const values = new Map<string, string[]>();
    const multi = new Map<string, string[][]>();
    let hostName = alias;
    for (const d of this.directives) {
      if (d.key === 'host' || d.key === 'match' || d.key === 'include') continue;
      if (!d.conditions.every((c) => conditionHolds(c, alias, values.get('hostname')?.[0] ?? alias))) continue;
      if (MULTI.has(d.key)) {
        multi.set(d.key, [...(multi.get(d.key) ?? []), d.args]);
      } else if (!values.has(d.key)) {
        values.set(d.key, d.args);
      }
    }
    const first = (k: string) => values.get(k)?.[0];
    const hn = first('hostname');
    if (hn) hostName = expandTokens(hn, { h: alias, n: alias, d: this.home, u: this.localUser, '%': '%' });
    const portText = first('port');
    const port = portText && /^\d+$/.test(portText) ? Number(portText) : 22;
    const user = first('user');
    const tokens = { h: hostName, n: alias, p: String(port), r: user ?? this.localUser, u: this.localUser, d: this.home, '%': '%' };
    const expandPath = (p: string) => expandTokens(tildeExpand(p, this.home), tokens);
    const identityFiles = (multi.get('identityfile') ?? []).flat().filter((p) => p.toLowerCase() !== 'none').map(expandPath);
    const jumpText = first('proxyjump');
    const proxyJump = jumpText && jumpText.toLowerCase() !== 'none' ? parseProxyJump(jumpText) : [];
    const knownHosts = values.get('userknownhostsfile')?.filter((p) => p.toLowerCase() !== 'none').map(expandPath);
    const agent = first('identityagent');
    const num = (k: string) => {
      const v = first(k);
      return v && /^\d+$/.test(v) ? Number(v) : undefined;
    };
    return {
      alias,
      hostName,
      user,
      port,
      identityFiles,
      identitiesOnly: first('identitiesonly')?.toLowerCase() === 'yes',
      identityAgent: agent && agent.toLowerCase() !== 'none' ? (agent === 'SSH_AUTH_SOCK' ? undefined : expandPath(agent)) : undefined,
      proxyJump,
      userKnownHostsFiles: knownHosts ?? [path.join(this.home, '.ssh', 'known_hosts'), path.join(this.home, '.ssh', 'known_hosts2')],
      globalKnownHostsFiles: values.get('globalknownhostsfile')?.filter((p) => p.toLowerCase() !== 'none').map(expandPath)
        ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      connectTimeoutSeconds: num('connecttimeout'),
      serverAliveIntervalSeconds: num('serveraliveinterval'),
    };
  }
}

function conditionHolds(c: SshCondition, alias: string, hostName: string): boolean {
  switch (c.kind) {
    case 'never':
      return false;
    case 'host':
      return matchPatternList(alias, c.patterns);
    case 'match':
      return c.criteria.every((cr) => {
        if (cr.name === 'all') return true;
        if (cr.name === 'host') return matchPatternList(hostName, cr.patterns);
        if (cr.name === 'originalhost') return matchPatternList(alias, cr.patterns);
        return false; // exec/user/localuser/canonical/final/tagged: cannot evaluate safely
      });
  }
}

/** Read `file` (default ~/.ssh/config) and everything it includes. A missing file is an empty config. */
export async function loadSshConfig(file?: string, opts: SshConfigLoadOptions = {}): Promise<SshConfig> {
  const home = opts.home ?? os.homedir();
  const localUser = opts.localUser ?? os.userInfo().username;
  const warn = opts.onWarning ?? (() => {});
  const directives: SshDirective[] = [];
  const sshDir = path.join(home, '.ssh');

  async function readFileDirectives(filePath: string, outer: SshCondition[], depth: number): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(filePath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') warn(`Cannot read ${filePath}: ${(e as Error).message}`);
      return;
    }
    // Conditions of the current block inside THIS file; restored to `outer` when the file ends.
    let block: SshCondition[] = [];
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const parsed = parseLine(lines[i]!);
      if (!parsed) continue;
      const { key, args } = parsed;
      const lineNo = i + 1;
      if (key === 'host') {
        block = [{ kind: 'host', patterns: args }];
        directives.push({ key, args, file: filePath, line: lineNo, conditions: [...outer] });
        continue;
      }
      if (key === 'match') {
        block = [parseMatch(args, warn, filePath, lineNo)];
        directives.push({ key, args, file: filePath, line: lineNo, conditions: [...outer] });
        continue;
      }
      const conditions = [...outer, ...block];
      if (key === 'include') {
        if (depth >= MAX_INCLUDE_DEPTH) {
          warn(`${filePath}:${lineNo}: Include nested too deeply`);
          continue;
        }
        for (const arg of args) {
          const pattern = path.isAbsolute(tildeExpand(arg, home)) ? tildeExpand(arg, home) : path.join(sshDir, arg);
          for (const included of await globFiles(pattern)) await readFileDirectives(included, conditions, depth + 1);
        }
        continue;
      }
      directives.push({ key, args, file: filePath, line: lineNo, conditions });
    }
  }

  await readFileDirectives(file ?? path.join(sshDir, 'config'), [], 0);
  return new SshConfig(directives, home, localUser);
}

/** Parse config text without includes (for tests and for settings-provided snippets). */
export function parseSshConfigText(text: string, file = '<text>', home = os.homedir(), localUser = 'user'): SshConfig {
  const directives: SshDirective[] = [];
  let block: SshCondition[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const parsed = parseLine(raw);
    if (!parsed) return;
    if (parsed.key === 'host') block = [{ kind: 'host', patterns: parsed.args }];
    else if (parsed.key === 'match') block = [parseMatch(parsed.args, () => {}, file, i + 1)];
    directives.push({ ...parsed, file, line: i + 1, conditions: parsed.key === 'host' || parsed.key === 'match' ? [] : block });
  });
  return new SshConfig(directives, home, localUser);
}

function parseMatch(args: string[], warn: (m: string) => void, file: string, line: number): SshCondition {
  const criteria: Array<{ name: string; patterns: string[] }> = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!.toLowerCase();
    if (name === 'all' || name === 'canonical' || name === 'final') {
      criteria.push({ name, patterns: [] });
      continue;
    }
    const value = args[++i];
    if (value === undefined) {
      warn(`${file}:${line}: Match ${name} needs a value`);
      return { kind: 'never' };
    }
    criteria.push({ name, patterns: value.split(',') });
  }
  return { kind: 'match', criteria };
}

/** `Keyword args` or `Keyword=args`, with "double" or 'single' quoted arguments; comments dropped. */
export function parseLine(raw: string): { key: string; args: string[] } | undefined {
  const line = raw.trim();
  if (!line || line.startsWith('#')) return undefined;
  const m = /^([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+|$)(.*)$/.exec(line);
  if (!m) return undefined;
  return { key: m[1]!.toLowerCase(), args: splitArgs(m[2] ?? '') };
}

function splitArgs(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && s[i + 1] === quote) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else if (c === '#' && !has) {
      break; // trailing comment
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

export function parseProxyJump(text: string): JumpSpec[] {
  return text.split(',').map((part) => {
    let s = part.trim().replace(/^ssh:\/\//, '');
    let user: string | undefined;
    const at = s.lastIndexOf('@');
    if (at >= 0) {
      user = s.slice(0, at);
      s = s.slice(at + 1);
    }
    let port: number | undefined;
    const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
    if (bracket) {
      s = bracket[1]!;
      port = bracket[2] ? Number(bracket[2]) : undefined;
    } else {
      const pm = /^([^:]+):(\d+)$/.exec(s);
      if (pm) {
        s = pm[1]!;
        port = Number(pm[2]);
      }
    }
    return { user, host: s, port };
  });
}

function tildeExpand(p: string, home: string): string {
  return p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
}

function expandTokens(s: string, tokens: Record<string, string>): string {
  return s.replace(/%(.)/g, (whole, t: string) => tokens[t] ?? whole);
}

/** Minimal glob: `*` and `?` in any path segment, results sorted like glob(3). */
async function globFiles(pattern: string): Promise<string[]> {
  if (!/[*?]/.test(pattern)) return [pattern];
  const parts = pattern.split(path.sep);
  let bases = [parts[0] === '' ? path.sep : parts[0]!];
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i]!;
    if (!seg) continue;
    const next: string[] = [];
    for (const base of bases) {
      if (!/[*?]/.test(seg)) {
        next.push(path.join(base, seg));
        continue;
      }
      let names: string[] = [];
      try {
        names = await fs.readdir(base);
      } catch {
        continue;
      }
      for (const n of names.sort()) if (!n.startsWith('.') && matchPattern(n, seg, false)) next.push(path.join(base, n));
    }
    bases = next;
  }
  const files: string[] = [];
  for (const b of bases) {
    try {
      if ((await fs.stat(b)).isFile()) files.push(b);
    } catch {
      /* vanished */
    }
  }
  return files;
}
