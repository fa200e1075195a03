/**
 * What people paste into "Add SSH host" (as in Remote-SSH): `user@host`, `host:2222`,
 * `ssh -p 2222 -i ~/.ssh/key user@host`, `ssh://user@host:2222`.
 */
export interface SshDestination { host: string; user?: string; port?: number; identityFile?: string }

export function parseSshDestination(input: string): SshDestination {
  const words = input.trim().split(/\s+/).filter(Boolean);
  if (words[0] === 'ssh') words.shift();
  let port: number | undefined;
  let identityFile: string | undefined;
  let user: string | undefined;
  let target: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '-p') port = toPort(words[++i]);
    else if (w.startsWith('-p') && w.length > 2) port = toPort(w.slice(2));
    else if (w === '-i') identityFile = words[++i];
    else if (w === '-l') user = words[++i];
    else if (w.startsWith('-')) {
      // An option we do not model; options taking a value are skipped with it.
      if (/^-[bcDEeFIJLmOoQRSWw]$/.test(w)) i++;
    } else if (!target) target = w;
    else throw new Error(`Unexpected "${w}": give one destination (user@host[:port])`);
  }
  if (!target) throw new Error('Give a destination such as user@gpu-box.example.com or ssh -p 2222 user@host');
  target = target.replace(/^ssh:\/\//, '');
  const at = target.lastIndexOf('@');
  if (at >= 0) {
    user = target.slice(0, at);
    target = target.slice(at + 1);
  }
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(target);
  const hostPort = /^([^:]+):(\d+)$/.exec(target);
  let host = target;
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2]) port = toPort(bracket[2]);
  } else if (hostPort) {
    host = hostPort[1]!;
    port = toPort(hostPort[2]);
  }
  if (!/^[\w.:%-]+$/.test(host)) throw new Error(`"${host}" is not a host name or address`);
  if (user !== undefined && !/^[\w.-]+$/.test(user)) throw new Error(`"${user}" is not a user name`);
  return { host, user, port, identityFile };
}

function toPort(s: string | undefined): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`"${s}" is not a port number`);
  return n;
}
