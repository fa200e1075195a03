// Reads /proc to find processes by command line: proves that a cancelled job's trainer is gone.
import { readdirSync, readFileSync } from 'node:fs';

export function processesMatching(...needles: string[]): Array<{ pid: number; cmdline: string }> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue; // exited while we looked
    }
    if (cmdline && needles.every((n) => cmdline.includes(n))) found.push({ pid: Number(entry), cmdline });
  }
  return found;
}
