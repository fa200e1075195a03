// The extension's package.json, read at test time so that the scenarios follow the contributions:
// removing a command from package.json or from its registration makes a scenario fail.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';

const Command = z.object({ command: z.string(), title: z.string(), category: z.string().optional() });
const Manifest = z.object({
  name: z.string(),
  publisher: z.string(),
  contributes: z.object({
    commands: z.array(Command).default([]),
    viewsContainers: z.object({ activitybar: z.array(z.object({ id: z.string(), title: z.string() })).default([]) }).default({ activitybar: [] }),
    views: z.record(z.string(), z.array(z.object({ id: z.string(), name: z.string() }))).default({}),
    viewsWelcome: z.array(z.object({ view: z.string(), contents: z.string() })).default([]),
    menus: z.record(z.string(), z.array(z.object({ command: z.string(), when: z.string().optional() }))).default({}),
    configuration: z.object({ properties: z.record(z.string(), z.unknown()).default({}) }).optional(),
  }),
});
export type Manifest = z.infer<typeof Manifest>;
export type ContributedCommand = z.infer<typeof Command>;

export const repoRoot = path.resolve(__dirname, '../../..');

/** The repository's package.json (E2E_MANIFEST may name another, matching an E2E_VSIX built from it). */
export function readManifest(): Manifest {
  const file = process.env.E2E_MANIFEST ? path.resolve(process.env.E2E_MANIFEST) : path.join(repoRoot, 'package.json');
  return Manifest.parse(JSON.parse(readFileSync(file, 'utf8')));
}

export function extensionId(m: Manifest): string {
  return `${m.publisher}.${m.name}`;
}

/** The label the command palette shows: "Category: Title". */
export function paletteLabel(c: ContributedCommand): string {
  return c.category ? `${c.category}: ${c.title}` : c.title;
}

export function command(m: Manifest, id: string): ContributedCommand | undefined {
  return m.contributes.commands.find((c) => c.command === id);
}
