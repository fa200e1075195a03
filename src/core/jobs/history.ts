import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../fs/atomic';
import { withFileLock } from '../fs/lock';
import { HISTORY_VERSION, HistoryFileSchema, Job, JobSchema, isTerminal } from './schema';

export interface HistoryWarning { message: string; movedTo?: string }

export interface LoadResult { jobs: Job[]; warnings: HistoryWarning[] }

/** A change to one job. Returning undefined leaves it untouched. */
export type JobMutator = (job: Job) => Job | undefined;

/**
 * The job history: one JSON file `{version, jobs}` shared by every VS Code window and the CLI.
 *
 * - Every write is read-modify-write under a cross-process lock, then an atomic replace, so two
 *   writers never lose each other's jobs and a crash at any point leaves the old or the new file.
 * - Reads need no lock (the file is only ever replaced whole).
 * - A file that cannot be parsed is moved aside (`jobs.json.corrupt-<time>`) and every job in it that
 *   still validates is kept; a single bad job is dropped with a warning instead of losing the rest.
 */
export class JobHistory {
  readonly file: string;
  private readonly lockFile: string;
  /**
   * The bytes of the last file we read or wrote, with their parse. A reader compares the file's bytes
   * with these (a memcmp) and skips the parse on a match. Metadata is not enough: ext4 hands a freed
   * inode to the next new file, claims rewrite fields of fixed length (ISO times), and mtime is as
   * coarse as the kernel tick, so another process's write can share inode, size and mtime with ours.
   */
  private cache: { bytes: Buffer; result: LoadResult } | undefined;
  /** Serialized lines of unchanged job objects are reused across writes. */
  private readonly lines = new WeakMap<Job, string>();

  constructor(readonly dir: string, private readonly onWarning: (w: HistoryWarning) => void = () => {}) {
    this.file = path.join(dir, 'jobs.json');
    this.lockFile = path.join(dir, 'jobs.json.lock');
  }

  /** All jobs, newest first. Polling readers re-read the file but re-parse it only when it changed. */
  async list(): Promise<Job[]> {
    return (await this.load()).jobs;
  }

  async get(id: string): Promise<Job | undefined> {
    return (await this.list()).find((j) => j.id === id || j.id.startsWith(id));
  }

  /** Find by exact id or unique prefix (for the CLI). Throws on ambiguity. */
  async resolve(idOrPrefix: string): Promise<Job> {
    const jobs = await this.list();
    const exact = jobs.find((j) => j.id === idOrPrefix);
    if (exact) return exact;
    const matches = jobs.filter((j) => j.id.startsWith(idOrPrefix));
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0) throw new Error(`No job with id "${idOrPrefix}" in ${this.file}`);
    throw new Error(`"${idOrPrefix}" matches ${matches.length} jobs; give more of the id`);
  }

  async load(): Promise<LoadResult> {
    const bytes = await this.readBytes();
    if (bytes === undefined) return { jobs: [], warnings: [] };
    if (this.cache?.bytes.equals(bytes)) return this.cache.result;
    const result = parseHistory(bytes.toString('utf8'));
    if (result.corrupt) {
      // Recover under the lock so a concurrent writer cannot race the move.
      return this.withLock(async () => {
        const again = await this.readUnlocked();
        return { jobs: again.jobs, warnings: again.warnings };
      });
    }
    for (const w of result.warnings) this.onWarning(w);
    const loaded = { jobs: result.jobs, warnings: result.warnings };
    this.cache = { bytes, result: loaded };
    return loaded;
  }

  /** The file's bytes, or undefined when there is no history yet. One read: the file is replaced whole. */
  private async readBytes(): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Insert a new job (id must be unique). */
  async add(job: Job): Promise<Job> {
    const valid = JobSchema.parse(job);
    await this.transact((jobs) => {
      if (jobs.some((j) => j.id === valid.id)) throw new Error(`Job ${valid.id} already exists`);
      return [valid, ...jobs];
    });
    return valid;
  }

  /**
   * Apply `mutate` to the job with this id under the lock. Enforces that a terminal job never
   * becomes active again (late poll results cannot resurrect a cancelled job).
   */
  async update(id: string, mutate: JobMutator): Promise<Job | undefined> {
    let out: Job | undefined;
    await this.transact((jobs) => {
      const i = jobs.findIndex((j) => j.id === id);
      if (i < 0) return undefined;
      const before = jobs[i]!;
      const changed = mutate(structuredClone(before));
      if (!changed) { out = before; return undefined; }
      let next = JobSchema.parse({ ...changed, updatedAt: new Date().toISOString() });
      if (isTerminal(before.status) && next.status !== before.status) next = { ...next, status: before.status };
      if (isTerminal(next.status) && !next.finishedAt) next.finishedAt = next.updatedAt;
      const copy = jobs.slice();
      copy[i] = next;
      out = next;
      return copy;
    });
    return out;
  }

  async remove(ids: readonly string[]): Promise<number> {
    let removed = 0;
    await this.transact((jobs) => {
      const keep = jobs.filter((j) => !ids.includes(j.id));
      removed = jobs.length - keep.length;
      return removed ? keep : undefined;
    });
    return removed;
  }

  /** Read-modify-write under the lock. `fn` returns the new list, or undefined for "no change". */
  async transact(fn: (jobs: Job[]) => Job[] | undefined): Promise<void> {
    await this.withLock(async () => {
      const { jobs } = await this.readUnlocked();
      const next = fn(jobs);
      if (next) await this.writeUnlocked(next);
    });
  }

  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    await fs.mkdir(this.dir, { recursive: true });
    return withFileLock(this.lockFile, fn);
  }

  private async readUnlocked(): Promise<LoadResult> {
    const bytes = await this.readBytes();
    if (bytes === undefined) return { jobs: [], warnings: [] };
    if (this.cache?.bytes.equals(bytes)) return { jobs: this.cache.result.jobs, warnings: [] };
    const result = parseHistory(bytes.toString('utf8'));
    const warnings = [...result.warnings];
    if (!result.corrupt) this.cache = { bytes, result: { jobs: result.jobs, warnings: [] } };
    if (result.corrupt) {
      const movedTo = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await fs.copyFile(this.file, movedTo);
      // Rewrite what could be salvaged so the next reader sees a valid file.
      await this.writeUnlocked(result.jobs);
      const w = { message: `Job history ${this.file} was damaged (${result.corrupt}); kept ${result.jobs.length} readable job(s), the original is at ${movedTo}`, movedTo };
      warnings.push(w);
    }
    for (const w of warnings) this.onWarning(w);
    return { jobs: result.jobs, warnings };
  }

  private async writeUnlocked(jobs: Job[]): Promise<void> {
    // One job per line keeps the file diffable and lets salvage work line by line if it is ever cut.
    const body = Buffer.from(`{"version":${HISTORY_VERSION},"jobs":[\n${jobs.map((j) => this.line(j)).join(',\n')}\n]}\n`);
    this.cache = undefined;
    await writeFileAtomic(this.file, body);
    this.cache = { bytes: body, result: { jobs, warnings: [] } };
  }

  private line(job: Job): string {
    let l = this.lines.get(job);
    if (l === undefined) this.lines.set(job, (l = JSON.stringify(job)));
    return l;
  }
}

interface ParseResult { jobs: Job[]; warnings: HistoryWarning[]; corrupt?: string }

/** Parse a history file's text. Damage is reported in `corrupt` and `warnings`; only a newer format throws. */
export function parseHistory(text: string): ParseResult {
  const warnings: HistoryWarning[] = [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { jobs: salvageLines(text), warnings, corrupt: `not valid JSON: ${(e as Error).message}` };
  }
  const version = (raw as { version?: unknown })?.version;
  if (typeof version === 'number' && version > HISTORY_VERSION) {
    // Written by a newer Cloud Training: never rewrite (and so downgrade) it.
    throw new Error(`The job history was written by a newer version of Cloud Training (format ${version}, this one reads ${HISTORY_VERSION}); update the extension/CLI`);
  }
  const file = HistoryFileSchema.safeParse(raw);
  if (!file.success) {
    const arr = Array.isArray((raw as { jobs?: unknown })?.jobs) ? (raw as { jobs: unknown[] }).jobs : Array.isArray(raw) ? raw : [];
    return { jobs: validJobs(arr, warnings), warnings, corrupt: `unexpected shape or version (${file.error.issues[0]?.message ?? 'invalid'})` };
  }
  return { jobs: validJobs(file.data.jobs, warnings), warnings };
}

function validJobs(items: unknown[], warnings: HistoryWarning[]): Job[] {
  const out: Job[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const r = JobSchema.safeParse(item);
    if (r.success) {
      if (!seen.has(r.data.id)) out.push(r.data);
      seen.add(r.data.id);
    } else {
      const id = (item as { id?: unknown })?.id;
      warnings.push({ message: `Skipped an unreadable job${typeof id === 'string' ? ` (${id})` : ''}: ${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message}` });
    }
  }
  return out;
}

/** Truncated or garbled file: every line that is a complete job object is still a job. */
function salvageLines(text: string): Job[] {
  const jobs: Job[] = [];
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    const t = line.trim().replace(/,$/, '');
    if (!t.startsWith('{') || !t.endsWith('}')) continue;
    try {
      const r = JobSchema.safeParse(JSON.parse(t));
      if (r.success && !seen.has(r.data.id)) { jobs.push(r.data); seen.add(r.data.id); }
    } catch { /* not a job line */ }
  }
  return jobs;
}
