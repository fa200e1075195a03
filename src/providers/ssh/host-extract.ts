import { posix, shellQuote } from './remote-shell';

/**
 * What unpacks a sync's tar stream on the host, and hashes it on the way.
 *
 * With python3 (every training host has it) one small extractor writes each file and computes its
 * sha256 from the same buffer as it writes it, then prints `<sha256>  <path>\0`. Before it, the
 * sync ran `tar -x` and a second process that read every file back to hash it. That cost about 40 % more
 * CPU on the host, and on a loopback benchmark the host shares the CPU with the sender. The hash
 * is of the bytes that arrived and were written, which is what rsync checks too.
 * Each file is written to a temporary name beside it and renamed into place, so a training run
 * reading the folder never sees half a file, and a cut-off transfer leaves no wrong file behind.
 *
 * Without python3, GNU/BSD `tar -x -v` unpacks (its one line per member tells which files are
 * complete) and the caller hashes them with startVerifier.
 *
 * Output starts with one line naming the mode: `ct-extract 1` or `tar`.
 */

export const EXTRACT_MODE_PYTHON = 'ct-extract 1';
export const EXTRACT_MODE_TAR = 'tar';

// Python 3.4+ (no f-strings): old enterprise distributions still ship 3.6.
const EXTRACTOR = String.raw`
import hashlib, os, sys
def fail(msg):
    sys.stderr.write("ct-extract: %s\n" % msg)
    sys.exit(1)
def octal(field):
    s = bytes(field).split(b"\0", 1)[0].strip()
    return int(s, 8) if s else 0
def main():
    try:
        import fcntl
        fcntl.fcntl(0, 1031, 1 << 20)  # F_SETPIPE_SZ: fewer wake-ups between sshd and us
    except Exception:
        pass
    inp = open(0, "rb", buffering=0)
    out = sys.stdout.buffer
    out.write(b"${EXTRACT_MODE_PYTHON}\n")
    out.flush()
    size_max = 1 << 20
    buf = bytearray(size_max)
    mv = memoryview(buf)
    hdr = bytearray(512)
    made = set()
    pid = str(os.getpid()).encode()
    def fill(v):
        got = 0
        while got < len(v):
            n = inp.readinto(v[got:])
            if not n:
                fail("the stream ended in the middle of a file (the upload was cut off)")
            got += n
    def skip(n):
        while n > 0:
            k = min(n, size_max)
            fill(mv[:k])
            n -= k
    pax = {}
    while True:
        fill(memoryview(hdr))
        if not any(hdr):
            break
        kind = bytes(hdr[156:157])
        size = octal(hdr[124:136])
        name = bytes(hdr[0:100]).split(b"\0", 1)[0]
        if hdr[257:262] == b"ustar":
            prefix = bytes(hdr[345:500]).split(b"\0", 1)[0]
            if prefix:
                name = prefix + b"/" + name
        if kind in (b"x", b"g"):
            body = bytearray(size + (-size) % 512)
            fill(memoryview(body))
            data = bytes(body[:size])
            i = 0
            while kind == b"x" and i < len(data):
                sp = data.index(b" ", i)
                length = int(data[i:sp])
                key, _, value = data[sp + 1:i + length - 1].partition(b"=")
                pax[key] = value
                i += length
            continue
        name = pax.get(b"path", name)
        size = int(pax[b"size"]) if b"size" in pax else size
        mtime = int(float(pax[b"mtime"])) if b"mtime" in pax else octal(hdr[136:148])
        pax = {}
        pad = (-size) % 512
        while name.startswith(b"./"):
            name = name[2:]
        parts = name.split(b"/")
        if not name or name.startswith(b"/") or b".." in parts:
            fail("refusing the unsafe path %r" % name)
        if kind == b"5":
            os.makedirs(name, exist_ok=True)
            skip(size + pad)
            continue
        if kind not in (b"0", b"\0", b"7"):
            skip(size + pad)
            continue
        folder = os.path.dirname(name)
        if folder and folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        # Per process: two windows syncing the same dataset at once must not share a temp file.
        tmp = os.path.join(folder, b"." + os.path.basename(name) + b".ct-partial-" + pid)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        h = hashlib.sha256()
        left = size
        try:
            while left > 0:
                k = min(left, size_max)
                v = mv[:k]
                fill(v)
                h.update(v)
                done = 0
                while done < k:
                    done += os.write(fd, v[done:])
                left -= k
        except BaseException as e:
            os.close(fd)
            os.unlink(tmp)
            if isinstance(e, OSError) and not e.filename:
                raise OSError(e.errno, e.strerror, name)  # e.g. a full disk: say which file
            raise
        os.close(fd)
        os.utime(tmp, (mtime, mtime))
        os.rename(tmp, name)
        skip(pad)
        out.write(h.hexdigest().encode() + b"  " + name + b"\0")
    out.flush()
try:
    main()
except OSError as e:
    where = e.filename.decode("utf-8", "replace") if isinstance(e.filename, bytes) else e.filename
    fail("%s: %s" % (where, e.strerror) if where else "writing a file failed: %s" % e.strerror)
`;

/**
 * Sets `py` to a python3 for stdlib-only scripts, or to nothing. The system interpreter comes first:
 * version-manager shims on PATH (pyenv, asdf) start a shell and a helper first, ~100 ms per start.
 */
export const FIND_PYTHON = 'py=; for c in /usr/bin/python3 /usr/local/bin/python3 python3; do if command -v "$c" >/dev/null 2>&1; then py=$c; break; fi; done';

/**
 * Unpack stdin into `remoteDir` (created if missing); see the module comment for the output.
 * `tar` skips the python3 extractor (a host whose python3 is unusable).
 */
export function extractCommand(remoteDir: string, extractor: 'auto' | 'tar' = 'auto'): string {
  return posix(
    `mkdir -p -- ${shellQuote(remoteDir)} && cd ${shellQuote(remoteDir)} && ${extractor === 'tar' ? 'py=' : FIND_PYTHON}; `
    + `if [ -n "$py" ]; then exec "$py" -c ${shellQuote(EXTRACTOR)}; `
    + `else printf '${EXTRACT_MODE_TAR}\\n'; exec tar -x -v -b 256 -f - --no-same-owner --no-same-permissions; fi`,
  );
}

/**
 * Reads the extractor's output as it arrives. In python mode it collects the host's hashes; in tar
 * mode it calls `completed(n)` with how many members are fully on disk (line n+1 starts member n+1).
 */
export class ExtractOutput {
  mode: 'python' | 'tar' | undefined;
  readonly hashes = new Map<string, string>();
  private head = '';
  private rest = Buffer.alloc(0);
  private lines = 0;
  private skipped = 0;

  constructor(private readonly completed: (members: number) => void) {}

  push(chunk: Buffer): void {
    if (!this.mode) {
      // A login shell's start-up files sometimes print to stdout: skip whole lines until the mode line.
      this.head += chunk.toString('latin1');
      for (let nl = this.head.indexOf('\n'); nl >= 0 && !this.mode; nl = this.head.indexOf('\n')) {
        const line = this.head.slice(0, nl);
        this.mode = line === EXTRACT_MODE_PYTHON ? 'python' : line === EXTRACT_MODE_TAR ? 'tar' : undefined;
        this.head = this.head.slice(nl + 1);
        if (!this.mode) this.skipped += nl + 1;
      }
      if (!this.mode) {
        if (this.skipped + this.head.length > 65536) throw new Error(`Unexpected output from the extractor on the host: ${JSON.stringify(this.head.slice(0, 80))}`);
        return;
      }
      chunk = Buffer.from(this.head, 'latin1');
      this.head = '';
    }
    if (this.mode === 'tar') {
      for (const byte of chunk) if (byte === 10) this.lines++;
      this.completed(Math.max(0, this.lines - 1));
      return;
    }
    const all = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    for (let end = all.indexOf(0, start); end >= 0; end = all.indexOf(0, start)) {
      const rec = all.toString('utf8', start, end);
      start = end + 1;
      if (rec.length > 66 && rec[64] === ' ' && rec[65] === ' ') this.hashes.set(rec.slice(66), rec.slice(0, 64));
    }
    this.rest = Buffer.from(all.subarray(start));
  }
}
