import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface UploadedPart { name: string; filename?: string; contentType?: string; size: number; sha256: string; text?: string; data?: Buffer }

/**
 * Streaming multipart/form-data reader: hashes and counts each part as it arrives and keeps only small
 * parts (≤ 64 KiB) as text, so a 1 GB upload costs the fake server no memory. `onFileChunk` sees a
 * file part's bytes as they arrive (e.g. to check a JSONL file line by line).
 */
export async function readMultipart(req: IncomingMessage, keepBytes = 65536, onFileChunk?: (part: UploadedPart, chunk: Buffer) => void): Promise<UploadedPart[]> {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(req.headers['content-type'] ?? '');
  if (!m) throw new Error('not multipart');
  const delimiter = Buffer.from(`\r\n--${m[1] ?? m[2]}`);
  const parts: UploadedPart[] = [];
  // Prepend CRLF so the first boundary looks like every other one.
  let buf: Buffer = Buffer.from('\r\n');
  let state: 'preamble' | 'headers' | 'body' | 'done' = 'preamble';
  let cur: { part: UploadedPart; hash: ReturnType<typeof createHash>; keep: Buffer[] } | undefined;

  const finishPart = () => {
    if (!cur) return;
    cur.part.sha256 = cur.hash.digest('hex');
    if (cur.part.size <= keepBytes) cur.part.data = Buffer.concat(cur.keep);
    if (cur.part.size <= 65536) cur.part.text = Buffer.concat(cur.keep).toString('utf8');
    parts.push(cur.part);
    cur = undefined;
  };
  const feedBody = (chunk: Buffer) => {
    if (!cur || chunk.length === 0) return;
    cur.part.size += chunk.length;
    cur.hash.update(chunk);
    if (cur.part.filename !== undefined) onFileChunk?.(cur.part, chunk);
    if (cur.part.size <= Math.max(keepBytes, 65536)) cur.keep.push(Buffer.from(chunk));
  };

  const process = () => {
    for (;;) {
      if (state === 'preamble' || state === 'body') {
        const i = buf.indexOf(delimiter);
        if (i < 0) {
          // Keep a tail that could be the start of a delimiter.
          const keep = Math.min(buf.length, delimiter.length - 1);
          if (state === 'body') feedBody(buf.subarray(0, buf.length - keep));
          buf = buf.subarray(buf.length - keep);
          return;
        }
        if (state === 'body') { feedBody(buf.subarray(0, i)); finishPart(); }
        const after = buf.subarray(i + delimiter.length);
        if (after.length < 2) { buf = buf.subarray(i); return; }
        if (after[0] === 0x2d && after[1] === 0x2d) { state = 'done'; return; }
        buf = after.subarray(2); // CRLF after the boundary
        state = 'headers';
      }
      if (state === 'headers') {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const headers = buf.subarray(0, end).toString('utf8');
        buf = buf.subarray(end + 4);
        const disp = /content-disposition:[^\r\n]*/i.exec(headers)?.[0] ?? '';
        const name = /name="([^"]*)"/.exec(disp)?.[1] ?? '';
        const filename = /filename="([^"]*)"/.exec(disp)?.[1];
        const contentType = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1]?.trim();
        cur = { part: { name, filename, contentType, size: 0, sha256: '' }, hash: createHash('sha256'), keep: [] };
        state = 'body';
        continue;
      }
      return;
    }
  };

  for await (const chunk of req) {
    buf = buf.length ? Buffer.concat([buf, chunk as Buffer]) : (chunk as Buffer);
    if ((state as string) !== 'done') process();
  }
  if ((state as string) !== 'done') throw new Error('multipart body ended early');
  return parts;
}
