import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { writeFileAtomic } from '../fs/atomic';
import { withFileLock } from '../fs/lock';

const MemoryFileSchema = z.object({
  version: z.literal(1),
  /** key `${provider}\u0000${workspace}` → when "always allow" was chosen */
  alwaysAllow: z.record(z.string(), z.object({ at: z.string(), provider: z.string(), workspace: z.string() })),
});
type MemoryFile = z.infer<typeof MemoryFileSchema>;

/**
 * "Always allow uploads from this workspace" decisions. Kept in the shared data folder (not in VS Code's
 * workspace state) so the CLI honours what was chosen in the editor and vice versa. Remembered per
 * provider: allowing Replicate does not allow an SSH host, since the data goes somewhere else.
 */
export class ConsentMemory {
  readonly file: string;

  constructor(dataHome: string) {
    this.file = path.join(dataHome, 'consent.json');
  }

  async isAlwaysAllowed(provider: string, workspace: string | undefined): Promise<boolean> {
    if (!workspace) return false;
    return Boolean((await this.read()).alwaysAllow[key(provider, workspace)]);
  }

  async allowAlways(provider: string, workspace: string, at = new Date()): Promise<void> {
    await this.modify((m) => { m.alwaysAllow[key(provider, workspace)] = { at: at.toISOString(), provider, workspace: path.resolve(workspace) }; });
  }

  async forget(provider: string, workspace: string): Promise<void> {
    await this.modify((m) => { delete m.alwaysAllow[key(provider, workspace)]; });
  }

  private async modify(fn: (m: MemoryFile) => void): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    await withFileLock(`${this.file}.lock`, async () => {
      const m = await this.read();
      fn(m);
      await writeFileAtomic(this.file, JSON.stringify(m, null, 2) + '\n');
    });
  }

  /** A missing or damaged file means "nothing remembered": the user is asked again, which is the safe side. */
  private async read(): Promise<MemoryFile> {
    try {
      const r = MemoryFileSchema.safeParse(JSON.parse(await fs.readFile(this.file, 'utf8')));
      if (r.success) return r.data;
    } catch { /* missing or not JSON */ }
    return { version: 1, alwaysAllow: {} };
  }
}

const key = (provider: string, workspace: string) => `${provider}\u0000${path.resolve(workspace)}`;
