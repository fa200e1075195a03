/**
 * POSIX tar headers (ustar, plus a pax record for long or non-ASCII names and huge sizes) for the
 * stream a sync sends to `tar -x` on the host. Data, padding and the end blocks are written by
 * tar-stream.ts.
 */

export interface TarEntry { relPath: string; absPath: string; size: number; mtimeMs: number }

const BLOCK = 512;

/** The header block(s) of one regular file: ustar, preceded by a pax record for long or non-ASCII names. */
export function tarHeader(e: TarEntry): Buffer {
  return Buffer.concat([...header(e)]);
}

function* header(e: TarEntry): Generator<Buffer> {
  const name = Buffer.from(e.relPath, 'utf8');
  const needPax = name.length > 100 || e.size > 0o77777777777 || /[^\x20-\x7e]/.test(e.relPath);
  if (needPax) {
    const records = [paxRecord('path', e.relPath), paxRecord('size', String(e.size))];
    const body = Buffer.concat(records);
    yield ustar({ name: `PaxHeaders/${asciiName(e.relPath).slice(-80)}`, size: body.length, mtime: e.mtimeMs, type: 'x' });
    yield body;
    const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
    if (pad) yield Buffer.alloc(pad);
  }
  yield ustar({ name: asciiName(e.relPath).slice(-100), size: e.size > 0o77777777777 ? 0 : e.size, mtime: e.mtimeMs, type: '0' });
}

function asciiName(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '_');
}

/** "<len> key=value\n" where len counts itself. */
function paxRecord(key: string, value: string): Buffer {
  const rest = ` ${key}=${value}\n`;
  const restLen = Buffer.byteLength(rest);
  let len = restLen + 1;
  while (String(len).length + restLen !== len) len = String(len).length + restLen;
  return Buffer.from(`${len}${rest}`, 'utf8');
}

function ustar(h: { name: string; size: number; mtime: number; type: string }): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  b.write('0000644\0', 100, 'ascii'); // mode
  b.write('0000000\0', 108, 'ascii'); // uid
  b.write('0000000\0', 116, 'ascii'); // gid
  b.write(`${h.size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  b.write(`${Math.floor(h.mtime / 1000).toString(8).padStart(11, '0')}\0`, 136, 'ascii');
  b.write('        ', 148, 'ascii'); // checksum placeholder
  b.write(h.type, 156, 'ascii');
  b.write('ustar\0', 257, 'ascii');
  b.write('00', 263, 'ascii');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return b;
}
