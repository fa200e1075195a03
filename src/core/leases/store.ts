import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../fs/atomic';
import { withFileLock } from '../fs/lock';
import { LEASES_VERSION, LeaseSchema, LeasesFileSchema, type Lease } from './schema';

/**
 * `leases.json`, a sibling of the job history `jobs.json`, kept with the same discipline and the
 * same primitives: every change is read-modify-write under a cross-process O_EXCL lock
 * (`withFileLock`), then an atomic replace (`writeFileAtomic`). A separate file and lock because
 * lease work holds its lock across provider calls and must not stall every job-history writer.
 * Leases that fail validation are kept verbatim (never dropped: each may be a billing machine).
 */
export class LeaseStore {
  readonly file: string;
  private readonly lockFile: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'leases.json');
    this.lockFile = path.join(dir, 'leases.json.lock');
  }

  async list(): Promise<Lease[]> {
    return (await this.read()).leases;
  }

  async get(id: string): Promise<Lease | undefined> {
    return (await this.list()).find((l) => l.id === id);
  }

  /** Run `fn` holding the lock; `fn` gets a transaction whose writes land atomically. */
  async locked<T>(fn: (tx: LeaseTx) => Promise<T>): Promise<T> {
    await fs.mkdir(this.dir, { recursive: true });
    return withFileLock(this.lockFile, async () => {
      const { leases, raw } = await this.read();
      const tx = new LeaseTx(leases, async (next) => this.write(next, raw));
      return fn(tx);
    }, { timeoutMs: 120_000 });
  }

  private async read(): Promise<{ leases: Lease[]; raw: unknown[] }> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { leases: [], raw: [] };
      throw e;
    }
    const file = LeasesFileSchema.parse(JSON.parse(text));
    if (file.version > LEASES_VERSION) throw new Error(`${this.file} was written by a newer Cloud Training (format ${file.version}); update before managing machines`);
    const leases: Lease[] = [];
    const raw: unknown[] = [];
    for (const item of file.leases) {
      const r = LeaseSchema.safeParse(item);
      if (r.success) leases.push(r.data); else raw.push(item);
    }
    return { leases, raw };
  }

  private async write(leases: Lease[], unreadable: unknown[]): Promise<void> {
    const all = [...leases, ...unreadable];
    await writeFileAtomic(this.file, `{"version":${LEASES_VERSION},"leases":[\n${all.map((l) => JSON.stringify(l)).join(',\n')}\n]}\n`);
  }
}

/** The leases as read under the lock; `put` persists at once (write-ahead, not at the end). */
export class LeaseTx {
  constructor(private leases: Lease[], private readonly persist: (leases: Lease[]) => Promise<void>) {}

  all(): Lease[] { return this.leases; }
  get(id: string): Lease | undefined { return this.leases.find((l) => l.id === id); }

  async put(lease: Lease): Promise<Lease> {
    const valid = LeaseSchema.parse(lease);
    const i = this.leases.findIndex((l) => l.id === valid.id);
    this.leases = i < 0 ? [...this.leases, valid] : this.leases.map((l, j) => (j === i ? valid : l));
    await this.persist(this.leases);
    return valid;
  }
}
