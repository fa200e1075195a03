import type { SFTPWrapper } from 'ssh2';
import { shellQuote } from '../local/command';

export { shellQuote };

/** Run `cmd` with /bin/sh whatever the login shell is (fish, zsh, csh users exist). */
export function posix(cmd: string): string {
  return `sh -c ${shellQuote(cmd)}`;
}

/** Join a remote POSIX path (the host is Linux whatever this machine is). */
export function remoteJoin(...parts: string[]): string {
  return parts.filter(Boolean).join('/').replace(/\/{2,}/g, '/');
}

/** `~/x` or a relative path → absolute, using the SFTP server's idea of home. */
export async function absoluteRemote(sftp: SFTPWrapper, p: string): Promise<string> {
  if (p.startsWith('/')) return p;
  const home = await new Promise<string>((resolve, reject) => sftp.realpath('.', (e, abs) => (e ? reject(e) : resolve(abs))));
  const rest = p === '~' ? '' : p.startsWith('~/') ? p.slice(2) : p;
  return remoteJoin(home, rest);
}

export function sftpReadFile(sftp: SFTPWrapper, p: string): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    sftp.readFile(p, (e: (Error & { code?: number }) | null | undefined, data: Buffer) => {
      if (e) return e.code === 2 /* NO_SUCH_FILE */ ? resolve(undefined) : reject(e);
      resolve(data);
    });
  });
}

/** Write then rename over the target, so a reader never sees half a file. */
export async function sftpWriteFileAtomic(sftp: SFTPWrapper, p: string, data: string | Buffer): Promise<void> {
  const tmp = `${p}.ct-tmp-${process.pid}-${Date.now()}`;
  await new Promise<void>((resolve, reject) => sftp.writeFile(tmp, data, (e) => (e ? reject(e) : resolve())));
  await sftpRename(sftp, tmp, p);
}

/** posix-rename@openssh.com (overwrites); plain SFTP rename refuses an existing target. */
export function sftpRename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (e?: Error | null) => (e ? reject(e) : resolve());
    try {
      sftp.ext_openssh_rename(from, to, cb);
    } catch {
      sftp.rename(from, to, cb); // server without the extension
    }
  });
}
