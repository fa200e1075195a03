import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Run git in `cwd` with a fixed identity (tests must not depend on the machine's git config). */
export const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });

/** What the user sees of a repository: HEAD, branch, `git status --porcelain` and the index file's sha256. */
export function userGitState(root: string): { head: string; branch: string; status: string; index: string } {
  return {
    head: git(root, 'rev-parse', 'HEAD'),
    branch: git(root, 'symbolic-ref', 'HEAD'),
    status: git(root, 'status', '--porcelain'),
    index: createHash('sha256').update(readFileSync(path.join(root, '.git', 'index'))).digest('hex'),
  };
}
