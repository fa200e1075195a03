import { PassThrough } from 'node:stream';
import type { CliIO } from '../../src/cli/io';

/** A CliIO whose stdout/stderr are captured, for running CLI commands in-process. */
export function capturedIo(base: Omit<CliIO, 'stdout' | 'stderr'>): CliIO & { out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => { out += d; });
  stderr.on('data', (d) => { err += d; });
  return { ...base, stdout, stderr, out: () => out, err: () => err };
}
