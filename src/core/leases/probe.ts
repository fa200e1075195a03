import net from 'node:net';

/** True when host:port answers with an SSH banner ("SSH-2.0-…") within `timeoutMs`. */
export function sshAnswers(host: string, port: number, timeoutMs = 5_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf = '';
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('SSH-'));
    });
    s.once('error', () => done(false));
    s.once('end', () => done(buf.startsWith('SSH-')));
  });
}
