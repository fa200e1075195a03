import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import * as z from 'zod';
import { HashCache } from '../../core/packaging/hash-cache';
import { scanDataset, type ScannedFile } from '../../core/packaging/scan';
import { mapLimit } from '../../core/packaging/abort';
import type { SshConnection } from './connection';
import type { OpenSshSession } from './openssh';
import { ExtractOutput, extractCommand, FIND_PYTHON } from './host-extract';
import { tarReadable } from './tar-stream';
import { absoluteRemote, posix, remoteJoin, sftpReadFile, sftpRename, sftpWriteFileAtomic, shellQuote } from './remote-shell';

/**
 * Content-based incremental sync of a local folder to a folder on the host (like `rsync -a --delete`
 * by checksum, over SFTP):
 * - local manifest = scanDataset (same secret/symlink exclusions as packaging) + sha256 from the
 *   shared (path, size, mtime) hash cache, so an unchanged tree is not re-read;
 * - remote state = our manifest from the last sync + a `find` listing (catches files deleted or
 *   truncated on the host behind our back);
 * - only new/changed files are sent, several in flight, each written to a temp name and renamed;
 * - files gone locally are removed on the host;
 * - every sent file is hashed on the host and compared: while it is unpacked (host-extract.ts), or
 *   by a hasher fed as files complete (SFTP, or hosts without python3).
 */

export const RemoteManifestSchema = z.object({
  version: z.literal(1),
  syncedAt: z.string(),
  files: z.record(z.string(), z.object({ size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});
export type RemoteManifest = z.infer<typeof RemoteManifestSchema>;

export interface SyncOptions {
  /** Manifest location on the host (default: `<remoteDir>.ct-manifest.json`, beside the folder). */
  manifestPath?: string;
  /** Folder for the shared local hash cache (DataLayout.cacheDir). */
  cacheDir: string;
  extraExcludes?: string[];
  /** Files uploading at once over SFTP (default 32). */
  concurrency?: number;
  /** Parallel tar streams (default: 2 for large uploads, else 1). */
  streams?: number;
  /** Remote files not in the dataset that must survive the sync (default: SimpleTuner's bucket caches). */
  keepRemote?: (relPath: string) => boolean;
  /** `tar` (one stream, default when the host has tar) or `sftp` (several files in flight). */
  transport?: 'auto' | 'tar' | 'sftp';
  /**
   * Send tar streams through the system `ssh` client when it can log in without a prompt (default
   * true): several times faster than ssh2's JavaScript encryption. false = always the ssh2 channel.
   */
  openSsh?: boolean;
  /**
   * How the host unpacks a tar stream: `auto` (python3 when present, hashing as it writes) or `tar`
   * (`tar -x`, then a separate hashing pass; for a host whose python3 is unusable).
   */
  extractor?: 'auto' | 'tar';
  signal?: AbortSignal;
  report?: (message: string, fraction?: number) => void;
  log?: (line: string) => void;
}

export interface SyncResult {
  remoteDir: string;
  uploaded: string[];
  deleted: string[];
  unchanged: number;
  bytesSent: number;
  excluded: Array<{ relPath: string; reason: string }>;
  /** Files whose sha256 was checked on the host (every uploaded file). */
  verified: number;
}

const WRITES_IN_FLIGHT_PER_FILE = 16;

export async function syncDirectory(conn: SshConnection, localRoot: string, remoteDirIn: string, opts: SyncOptions): Promise<SyncResult> {
  const early: { session?: OpenSshSession } = {};
  try {
    return await sync(conn, localRoot, remoteDirIn, opts, early);
  } finally {
    early.session?.cancel(); // logged in ahead but nothing (more) to send: no-op once it ran
  }
}

async function sync(conn: SshConnection, localRoot: string, remoteDirIn: string, opts: SyncOptions, early: { session?: OpenSshSession }): Promise<SyncResult> {
  const { signal } = opts;
  const report = opts.report ?? (() => {});
  const sftp = await conn.sftp();
  const remoteDir = await absoluteRemote(sftp, remoteDirIn);
  const manifestPath = opts.manifestPath ? await absoluteRemote(sftp, opts.manifestPath) : `${remoteDir.replace(/\/+$/, '')}.ct-manifest.json`;
  // A login through the system ssh client costs a few hundred ms: start it now, while the dataset is
  // scanned and compared; it is fed only if there is something to send, else cancelled.
  const route = opts.openSsh !== false && opts.transport !== 'sftp' ? conn.openSsh(opts.log) : undefined;
  const extract = extractCommand(remoteDir, opts.extractor);
  if (route?.usable) early.session = route.start(extract, signal);

  report('Scanning the dataset…');
  const [scan, cache, remote] = await Promise.all([
    scanDataset(localRoot, { extraExcludes: opts.extraExcludes, signal }),
    HashCache.open(opts.cacheDir),
    readRemoteState(conn, sftp, remoteDir, manifestPath, signal),
  ]);

  // Decide per file. Hash only when the remote might already have it (same size): a file whose
  // size differs is sent anyway and hashed while it is read for the upload.
  const toSend: Array<ScannedFile & { knownSha?: string }> = [];
  const manifest: RemoteManifest = { version: 1, syncedAt: new Date().toISOString(), files: {} };
  const candidates = scan.files.filter((f) => {
    const m = remote.manifest.files[f.relPath];
    return m && m.size === f.size && remote.sizes.get(f.relPath) === f.size;
  });
  const shas = await cache.hashAll(candidates, { signal });
  const candidateSha = new Map(candidates.map((f, i) => [f.relPath, shas[i]!]));
  let unchanged = 0;
  for (const f of scan.files) {
    const sha = candidateSha.get(f.relPath);
    if (sha && remote.manifest.files[f.relPath]?.sha256 === sha) {
      manifest.files[f.relPath] = { size: f.size, sha256: sha };
      unchanged++;
    } else {
      toSend.push({ ...f, knownSha: sha ?? cache.get(f) });
    }
  }
  const localSet = new Set(scan.files.map((f) => f.relPath));
  const keep = opts.keepRemote ?? keepTrainerCaches;
  const toDelete = [...remote.sizes.keys()].filter((p) => !localSet.has(p) && !keep(p));

  if (toDelete.length) {
    report(`Removing ${toDelete.length} file(s) deleted locally…`);
    await conn.run(posix(`cd ${shellQuote(remoteDir)} && xargs -0 rm -f --`), { stdin: nulList(toDelete), signal });
    // Then the folders those files left empty, and only those (`rmdir -p` climbs while they are):
    // a sync running in another window may have just made a folder it is about to fill.
    const dirs = [...new Set(toDelete.map((p) => path.posix.dirname(p)).filter((d) => d !== '.'))];
    if (dirs.length) await conn.run(posix(`cd ${shellQuote(remoteDir)} && { xargs -0 rmdir -p --ignore-fail-on-non-empty -- 2>/dev/null || true; }`), { stdin: nulList(dirs), signal });
  }

  let bytesSent = 0;
  let verified = 0;
  if (toSend.length) {
    const total = toSend.reduce((n, f) => n + f.size, 0);
    const progress = (n: number) => {
      bytesSent += n;
      report(`Uploading ${toSend.length} file(s)…`, total ? bytesSent / total : undefined);
    };
    const record = (f: ScannedFile & { knownSha?: string }, sha: string) => {
      if (f.knownSha === undefined) cache.set(f, sha);
      manifest.files[f.relPath] = { size: f.size, sha256: sha };
    };
    const useTar = opts.transport === 'tar' || (remote.hasTar && opts.transport !== 'sftp');
    // Through ssh2 (one JS thread) two streams keep both ends busy; the system ssh client is fast
    // enough alone, and a second stream would cost a second login.
    const streams = opts.streams ?? (!early.session && toSend.length >= 64 && total >= 32 * 1024 * 1024 ? 2 : 1);
    const remoteSums = new Map<string, string>();
    if (useTar) {
      const groups = splitBySize(toSend, Math.max(1, streams));
      const sessions = groups.map((_, g) => {
        if (g === 0) return early.session;
        return route?.usable ? route.start(extract, signal) : undefined;
      });
      const sums = await Promise.all(groups.map((group, g) => tarUpload(conn, sessions[g], extract, remoteDir, group, record, progress, report, signal)));
      for (const m of sums) for (const [k, v] of m) remoteSums.set(k, v);
    } else {
      const verifier = startVerifier(conn, remoteDir, signal);
      try {
        const dirs = [...new Set(toSend.map((f) => path.posix.dirname(f.relPath)).filter((d) => d !== '.'))];
        await conn.run(posix(`mkdir -p -- ${shellQuote(remoteDir)} && cd ${shellQuote(remoteDir)} && xargs -0 -r mkdir -p --`), { stdin: nulList(dirs), signal });
        await mapLimit(toSend, opts.concurrency ?? 32, async (f) => {
          record(f, await uploadFile(sftp, f.absPath, remoteJoin(remoteDir, f.relPath), f.size, signal, progress));
          verifier.add(f.relPath);
        }, signal);
      } catch (e) {
        verifier.abort();
        throw e;
      }
      report(`Verifying ${toSend.length} file(s) on the host…`);
      for (const [k, v] of await verifier.finish()) remoteSums.set(k, v);
    }
    const bad = toSend.filter((f) => remoteSums.get(f.relPath) !== manifest.files[f.relPath]!.sha256).map((f) => f.relPath);
    verified = toSend.length - bad.length;
    if (bad.length) {
      // Keep the good part of the manifest so the next sync resends only the bad files.
      for (const b of bad) delete manifest.files[b];
      await sftpWriteFileAtomic(sftp, manifestPath, JSON.stringify(manifest));
      throw new Error(`Hash check failed on the host for ${bad.length} file(s) (e.g. ${bad.slice(0, 3).join(', ')}); they were changed while uploading or the disk is failing. Sync again.`);
    }
  }
  await cache.save();
  if (toSend.length || toDelete.length || !remote.manifestFound) {
    await sftpWriteFileAtomic(sftp, manifestPath, JSON.stringify(manifest));
  }
  report(toSend.length || toDelete.length ? `Synced: ${toSend.length} sent, ${toDelete.length} removed, ${unchanged} unchanged` : 'Dataset already up to date on the host', 1);
  return { remoteDir, uploaded: toSend.map((f) => f.relPath), deleted: toDelete, unchanged, bytesSent, excluded: scan.excluded, verified };
}

/** SimpleTuner writes its aspect-ratio bucket caches into the dataset folder; deleting them forces a re-scan. */
export function keepTrainerCaches(relPath: string): boolean {
  return /(^|\/)aspect_ratio_bucket_(indices|metadata)[^/]*\.json$/.test(relPath);
}

type Verifier = ReturnType<typeof startVerifier>;

/**
 * One tar stream unpacked on the host (host-extract.ts): no per-file round trips (SFTP needs
 * open/write/close/rename for each file). Returns the host's sha256 of every file: computed while
 * unpacking, or (hosts without python3) by startVerifier as `tar -v` reports each member complete.
 */
async function tarUpload(
  conn: SshConnection, session: OpenSshSession | undefined, extract: string, remoteDir: string, files: ScannedFile[],
  record: (f: ScannedFile, sha: string) => void, progress: (n: number) => void, report: (message: string) => void, signal?: AbortSignal,
): Promise<Map<string, string>> {
  let verifier: Verifier | undefined;
  let fed = 0;
  const output = new ExtractOutput((complete) => {
    verifier ??= startVerifier(conn, remoteDir, signal);
    for (; fed < complete && fed < files.length; fed++) verifier.add(files[fed]!.relPath);
  });
  let outputError: Error | undefined;
  const onStdout = (chunk: Buffer) => {
    try {
      output.push(chunk);
    } catch (e) {
      outputError ??= e as Error;
    }
  };
  const archive = () => tarReadable(files, (e, sha) => record(e as ScannedFile, sha), progress, signal);
  let r: { code: number | null; signal?: string; stderr: string } | undefined;
  let how = '';
  try {
    if (session) {
      // Nothing is read before the command runs on the host: if ssh cannot log in, fall back cleanly.
      const o = await session.run({ stdin: archive, onStdout });
      if (o.started) {
        r = o;
        how = ' (through the system ssh client; set the provider option systemSsh: false to use the built-in one)';
      }
    }
    r ??= await conn.exec(extract, { stdin: archive(), onStdout, signal });
    signal?.throwIfAborted();
    if (r.code !== 0) throw new Error(`Extracting on the host failed (exit ${r.code ?? r.signal})${how}: ${r.stderr.trim().slice(0, 500)}`);
    if (outputError) throw outputError;
  } catch (e) {
    verifier?.abort();
    throw e;
  }
  if (output.mode === 'python') return output.hashes;
  verifier ??= startVerifier(conn, remoteDir, signal);
  for (; fed < files.length; fed++) verifier.add(files[fed]!.relPath);
  report(`Verifying ${files.length} file(s) on the host…`);
  return verifier.finish();
}

/** `n` groups of about equal bytes (largest first into the lightest group), each in path order. */
function splitBySize<T extends { size: number; relPath: string }>(files: T[], n: number): T[][] {
  if (n <= 1) return [files];
  const groups = Array.from({ length: n }, () => ({ bytes: 0, files: [] as T[] }));
  for (const f of [...files].sort((a, b) => b.size - a.size)) {
    const g = groups.reduce((min, x) => (x.bytes < min.bytes ? x : min));
    g.bytes += f.size;
    g.files.push(f);
  }
  return groups.map((g) => g.files.sort((a, b) => (a.relPath < b.relPath ? -1 : 1))).filter((g) => g.length);
}

interface RemoteState { manifest: RemoteManifest; manifestFound: boolean; sizes: Map<string, number>; hasTar: boolean }

async function readRemoteState(conn: SshConnection, sftp: SFTPWrapper, remoteDir: string, manifestPath: string, signal?: AbortSignal): Promise<RemoteState> {
  const [raw, listing] = await Promise.all([
    sftpReadFile(sftp, manifestPath),
    // Temp files of a sync that is writing right now (another window) are left out, so they are not
    // "deleted locally"; ones older than an hour are leftovers of a cut-off sync and get removed.
    conn.execBuffer(posix(`(command -v tar >/dev/null 2>&1 && printf 'tar\\0' || printf 'notar\\0'); test -d ${shellQuote(remoteDir)} && find ${shellQuote(remoteDir)} \\( -type f -name '.*.ct-partial*' -mmin -60 \\) -o -type f -printf '%s %P\\0' || true`), { signal }),
  ]);
  const sizes = new Map<string, number>();
  const records = listing.stdout.toString('utf8').split('\0');
  const hasTar = records.shift() === 'tar';
  for (const rec of records) {
    const sp = rec.indexOf(' ');
    if (sp > 0) sizes.set(rec.slice(sp + 1), Number(rec.slice(0, sp)));
  }
  let manifest: RemoteManifest = { version: 1, syncedAt: '', files: {} };
  let found = false;
  if (raw) {
    try {
      const parsed = RemoteManifestSchema.safeParse(JSON.parse(raw.toString('utf8')));
      if (parsed.success) {
        manifest = parsed.data;
        found = true;
      }
    } catch {
      /* unreadable manifest: treat as absent, everything is compared by upload */
    }
  }
  return { manifest, manifestFound: found, sizes, hasTar };
}

/** Pipelined SFTP upload to a temp name, renamed into place; returns the sha256 of what was read. */
async function uploadFile(sftp: SFTPWrapper, local: string, remote: string, size: number, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<string> {
  const tmp = remoteJoin(path.posix.dirname(remote), `.${path.posix.basename(remote)}.ct-partial-${randomUUID().slice(0, 8)}`);
  const hash = createHash('sha256');
  const chunkSize = Math.max(32 * 1024, Math.min((sftp as unknown as { _maxWriteLen?: number })._maxWriteLen ?? 32 * 1024, 256 * 1024));
  const fh = await fs.open(local, 'r');
  const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(tmp, 'w', (e, h) => (e ? reject(e) : resolve(h))));
  try {
    let pos = 0;
    const inflight = new Set<Promise<void>>();
    let failure: Error | undefined;
    for (;;) {
      signal?.throwIfAborted();
      if (failure) throw failure;
      const buf = Buffer.allocUnsafe(chunkSize);
      const { bytesRead } = await fh.read(buf, 0, chunkSize, pos);
      if (!bytesRead) break;
      hash.update(buf.subarray(0, bytesRead));
      const at = pos;
      pos += bytesRead;
      const p = new Promise<void>((resolve) => {
        sftp.write(handle, buf, 0, bytesRead, at, (e) => {
          if (e) failure ??= e;
          else onBytes(bytesRead);
          resolve();
        });
      });
      inflight.add(p);
      void p.then(() => inflight.delete(p));
      if (inflight.size >= WRITES_IN_FLIGHT_PER_FILE) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    if (failure) throw failure;
    if (pos !== size) throw new Error(`${local} changed size while uploading (${size} → ${pos} bytes)`);
  } finally {
    await fh.close();
    await new Promise<void>((resolve) => sftp.close(handle, () => resolve()));
  }
  await sftpRename(sftp, tmp, remote);
  return hash.digest('hex');
}

/**
 * sha256 of files on the host, computed as names are fed in. Prefers one long-lived python3 (every
 * training host has it; hashlib uses OpenSSL, several times faster than coreutils' sha256sum on CPUs
 * with SHA extensions) over spawning a hasher per batch. Names go as ./relative paths.
 */
export function startVerifier(conn: SshConnection, remoteDir: string, signal?: AbortSignal) {
  const cmd = `mkdir -p -- ${shellQuote(remoteDir)} && cd ${shellQuote(remoteDir)} && ${FIND_PYTHON}; if [ -n "$py" ]; then echo python; exec "$py" -c ${shellQuote(PY_HASHER)}; `
    + 'elif command -v openssl >/dev/null 2>&1; then echo openssl; xargs -0 -r -n 128 openssl dgst -sha256 -r; '
    + 'else echo sha256sum; xargs -0 -r -n 128 sha256sum -z --; fi';
  const names = new PassThrough();
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const result = conn.execBuffer(posix(cmd), { stdin: names, signal: ac.signal });
  result.catch(() => {});
  return {
    add(rel: string) { names.write(`./${rel}\0`); },
    abort() { ac.abort(); names.end(); signal?.removeEventListener('abort', onAbort); },
    async finish(): Promise<Map<string, string>> {
      names.end();
      try {
        const r = await result;
        if (r.code !== 0) throw new Error(`Hashing on the host failed (needs openssl or coreutils' sha256sum): ${r.stderr.trim().slice(0, 300)}`);
        return parseDigestOutput(r.stdout.toString('utf8'));
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
  };
}

/** Reads NUL-separated names on stdin, writes `<hex>  <name>\\0` like `sha256sum -z` (missing files are skipped). */
const PY_HASHER = [
  'import hashlib,os,sys',
  'o=sys.stdout.buffer;p=b""',
  'while True:',
  ' d=os.read(0,65536)',
  ' if not d: break',
  ' p+=d;names=p.split(b"\\0");p=names.pop()',
  ' for n in names:',
  '  h=hashlib.sha256()',
  '  try:',
  '   with open(n,"rb") as f:',
  '    for c in iter(lambda:f.read(1<<20),b""): h.update(c)',
  '  except OSError: continue',
  '  o.write(h.hexdigest().encode()+b"  "+n+b"\\0")',
  'o.flush()',
].join('\n');

/** Output of the verifier command → relative path → sha256. */
export function parseDigestOutput(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const nl = text.indexOf('\n');
  const tool = text.slice(0, nl);
  const body = text.slice(nl + 1);
  const records = tool === 'openssl' ? body.split('\n') : body.split('\0'); // python and sha256sum -z: NUL
  for (const rec of records) {
    const m = /^([0-9a-f]{64}) [ *](.*)$/s.exec(rec);
    if (m) out.set(m[2]!.replace(/^\.\//, ''), m[1]!);
  }
  return out;
}

function nulList(items: readonly string[]): Buffer {
  return Buffer.from(items.map((s) => `${s}\0`).join(''), 'utf8');
}
