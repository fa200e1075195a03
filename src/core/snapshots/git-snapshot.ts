import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SNAPSHOT_REF_PREFIX = 'refs/cloud-training/';

export interface SnapshotResult {
  /** e.g. refs/cloud-training/job-123 */
  ref: string;
  commit: string;
  repoRoot: string;
  /** Paths inside the snapshot commit, per source file. */
  files: Array<{ source: string; path: string }>;
}

export interface SnapshotOptions {
  /** Any folder inside the repository (usually the workspace). */
  cwd: string;
  jobId: string;
  files: string[];
  message?: string;
  signal?: AbortSignal;
}

interface GitResult { stdout: string; stderr: string }

function git(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; signal?: AbortSignal; input?: string }): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', args, { cwd: opts.cwd, env: { ...process.env, ...opts.env, GIT_TERMINAL_PROMPT: '0' }, signal: opts.signal, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(Object.assign(new Error(`git ${args[0]} failed: ${(stderr || err.message).trim()}`), { cause: err }));
      resolve({ stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The repository's top folder, or undefined when `cwd` is not inside a git work tree (or git is missing). */
export async function repoRootOf(cwd: string): Promise<string | undefined> {
  try {
    return (await git(['rev-parse', '--show-toplevel'], { cwd })).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

export function snapshotRefFor(jobId: string): string {
  const safe = jobId.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+|\.lock$|\.+$/g, '') || 'job';
  return `${SNAPSHOT_REF_PREFIX}${safe}`;
}

/**
 * Record the exact content of `files` as a commit under refs/cloud-training/<job>, built with git
 * plumbing on a private index: the user's working tree, index, HEAD and branches are never touched
 * (unlike SimpleTuner's pre-submit auto-commit). The commit is HEAD's tree with these files as they
 * are on disk now, with HEAD as parent, so `git diff HEAD <ref>` shows exactly the uncommitted config
 * changes the job ran with. Files outside the repository go under `.cloud-training/external/`.
 * Returns undefined when `cwd` is not in a git repository.
 */
export async function snapshotConfigs(opts: SnapshotOptions): Promise<SnapshotResult | undefined> {
  const repoRoot = await repoRootOf(opts.cwd);
  if (!repoRoot) return undefined;
  const realRoot = await fs.realpath(repoRoot);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-snapshot-'));
  const env = { GIT_INDEX_FILE: path.join(tmp, 'index'), ...(await identityEnv(repoRoot)) };
  const run = (args: string[]) => git(args, { cwd: repoRoot, env, signal: opts.signal });
  try {
    const head = await run(['rev-parse', '--verify', '-q', 'HEAD^{commit}']).then((r) => r.stdout.trim(), () => '');
    if (head) await run(['read-tree', head]);
    const files: SnapshotResult['files'] = [];
    for (const source of opts.files) {
      const abs = await fs.realpath(path.resolve(opts.cwd, source));
      const rel = path.relative(realRoot, abs);
      const inRepo = rel && !rel.startsWith('..') && !path.isAbsolute(rel);
      const p = inRepo ? rel.split(path.sep).join('/') : `.cloud-training/external/${path.basename(abs)}`;
      const blob = (await run(['hash-object', '-w', '--', abs])).stdout.trim();
      await run(['update-index', '--add', '--cacheinfo', `100644,${blob},${p}`]);
      files.push({ source: abs, path: p });
    }
    const tree = (await run(['write-tree'])).stdout.trim();
    const message = opts.message ?? `cloud-training: configs of job ${opts.jobId}\n\n${files.map((f) => `- ${f.path}`).join('\n')}\n`;
    const commit = (await run(['commit-tree', tree, ...(head ? ['-p', head] : []), '-m', message])).stdout.trim();
    const ref = snapshotRefFor(opts.jobId);
    await run(['update-ref', '-m', `cloud-training snapshot ${opts.jobId}`, ref, commit]);
    return { ref, commit, repoRoot, files };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** The content of `filePath` (repository-relative) in a snapshot. */
export async function readSnapshotFile(cwd: string, ref: string, filePath: string): Promise<string> {
  return (await git(['show', `${ref}:${filePath}`], { cwd })).stdout;
}

export async function listSnapshots(cwd: string): Promise<Array<{ ref: string; commit: string; date: string }>> {
  const out = await git(['for-each-ref', '--format=%(refname)%09%(objectname)%09%(creatordate:iso-strict)', SNAPSHOT_REF_PREFIX], { cwd });
  return out.stdout.split('\n').filter(Boolean).map((l) => {
    const [ref, commit, date] = l.split('\t');
    return { ref: ref!, commit: commit!, date: date! };
  });
}

export async function deleteSnapshot(cwd: string, ref: string): Promise<void> {
  if (!ref.startsWith(SNAPSHOT_REF_PREFIX)) throw new Error(`not a snapshot ref: ${ref}`);
  await git(['update-ref', '-d', ref], { cwd });
}

/** commit-tree needs an identity; use the user's, or a neutral one when git has none configured. */
async function identityEnv(cwd: string): Promise<NodeJS.ProcessEnv> {
  const get = (k: string) => git(['config', '--get', k], { cwd }).then((r) => r.stdout.trim(), () => '');
  const [name, email] = await Promise.all([get('user.name'), get('user.email')]);
  const env: NodeJS.ProcessEnv = {};
  if (!name && !process.env.GIT_AUTHOR_NAME) Object.assign(env, { GIT_AUTHOR_NAME: 'Cloud Training', GIT_COMMITTER_NAME: 'Cloud Training' });
  if (!email && !process.env.GIT_AUTHOR_EMAIL) Object.assign(env, { GIT_AUTHOR_EMAIL: 'cloud-training@localhost', GIT_COMMITTER_EMAIL: 'cloud-training@localhost' });
  return env;
}
