#!/usr/bin/env node
// `aws s3 cp` of one 1 GiB file to three servers, side by side in one run, each in its own process:
//   ours   — the built-in S3 endpoint (SigV4 checked, payload SHA-256 + MD5 ETag verified/computed)
//   bare   — a bare node:http server that streams each PUT body to a file and answers the three
//            multipart calls with the least XML the CLI accepts: the ceiling for any Node server
//   bare+hashes — bare plus the MD5, SHA-256 and CRC32 every body needs, on its thread (see below)
//   s3rver — s3rver from npm (devDependency), a peer S3 server in Node
// Rounds alternate the order; the medians are printed as MiB/s with the ratios, plus each server's
// CPU seconds per round. Usage: node benchmarks/s3-upload.mjs [--mb 1024] [--rounds 5]
// The client is Debian's awscli (/usr/bin/aws, v2 — what .ci/run installs) when present, else `aws` on PATH;
// AWS_CLI=<path> names another (e.g. a pip aws-cli 1.45, which sends a CRC32 instead of Content-MD5 with every part and uses less CPU).
// s3rver is resolved from node_modules (npm ci), else from $S3RVER_PREFIX (e.g. /tmp/s3rver-bench after
// `npm install --prefix /tmp/s3rver-bench s3rver`).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, promises as fs, readFileSync } from 'node:fs';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const KEYS = {
  ours: { id: 'BENCHKEY', secret: 'bench-secret-0123456789' },
  bare: { id: 'BARE', secret: 'bare-secret' },
  'bare+hashes': { id: 'BARE', secret: 'bare-secret' },
  s3rver: { id: 'S3RVER', secret: 'S3RVER' },
};

if (argv[0] === '--server') {
  const [, kind, dir] = argv;
  if (kind === 'ours') {
    const { startLocalServer, CredentialStore } = await import(pathToFileURL(path.join(root, 'src/server/index.ts')).href);
    const credentials = new CredentialStore();
    credentials.setConfigured([{ accessKeyId: KEYS.ours.id, secretAccessKey: KEYS.ours.secret }]);
    const server = await startLocalServer({ storageDir: dir, credentials });
    process.stdout.write(`${server.storageEndpoint}\n`);
    process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
  } else if (kind === 'bare' || kind === 'bare+hashes') {
    // bare+hashes: the same, plus the three hashes S3 requires of every body the aws CLI sends (the MD5 that
    // is the part's ETag, the SHA-256 the request signed, the CRC32 checksum header), on this thread. What
    // a conforming server cannot avoid, with none of its other work: the ceiling for any S3 server in Node.
    const hashing = kind === 'bare+hashes';
    await fs.mkdir(dir, { recursive: true });
    const server = http.createServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      if (req.method === 'POST' && url.searchParams.has('uploads')) {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/xml' })
          .end(`<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>${randomBytes(8).toString('hex')}</UploadId></InitiateMultipartUploadResult>`);
      } else if (req.method === 'PUT') {
        const name = `${url.searchParams.get('uploadId') ?? 'single'}.${url.searchParams.get('partNumber') ?? 0}`;
        let etag = '"0"';
        if (hashing) {
          const md5 = createHash('md5'), sha = createHash('sha256');
          let crc = 0;
          req.on('data', (c) => { md5.update(c); sha.update(c); crc = zlib.crc32(c, crc); });
          req.on('end', () => { etag = `"${md5.digest('hex')}"`; sha.digest(); });
        }
        pipeline(req, createWriteStream(path.join(dir, name))).then(() => res.writeHead(200, { ETag: etag }).end(), () => res.destroy());
      } else if (req.method === 'POST') {
        req.resume();
        req.on('end', () => res.writeHead(200, { 'content-type': 'application/xml' })
          .end('<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"0-1"</ETag></CompleteMultipartUploadResult>'));
      } else res.writeHead(200).end();
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${server.address().port}\n`));
    process.on('SIGTERM', () => server.close(() => process.exit(0)));
  } else if (kind === 's3rver') {
    const S3rver = loadS3rver();
    const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true, configureBuckets: [{ name: 'bench' }] });
    const { port } = await server.run();
    process.stdout.write(`http://127.0.0.1:${port}\n`);
    process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
  }
} else {
  const mb = arg('--mb', 1024);
  const rounds = arg('--rounds', 5);
  const AWS = process.env.AWS_CLI || (existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-s3-bench-'));
  const children = [];
  try {
    const src = path.join(dir, 'model.bin');
    const block = Buffer.alloc(16 * 1024 * 1024);
    const fh = await fs.open(src, 'w');
    for (let i = 0; i < mb / 16; i++) await fh.write(randomFillSync(block));
    await fh.close();
    const size = (await fs.stat(src)).size;
    const cfg = path.join(dir, 'aws-config');
    await fs.writeFile(cfg, '[default]\ns3 =\n  addressing_style = path\n');

    const servers = {};
    for (const kind of ['ours', 'bare', 'bare+hashes', 's3rver']) {
      const store = path.join(dir, kind);
      // BENCH_PROF=<dir>: a CPU profile of each server process.
      const prof = process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', path.join(process.env.BENCH_PROF, kind)] : [];
      const child = spawn(process.execPath, [...prof, '--import', 'tsx', fileURLToPath(import.meta.url), '--server', kind, store], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      const endpoint = await new Promise((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (c) => {
          buf += c;
          if (buf.includes('\n')) resolve(buf.trim());
        });
        child.once('exit', (code) => reject(new Error(`${kind} server exited ${code}`)));
      });
      servers[kind] = { endpoint, store, pid: child.pid, times: [], cpu: [], clientCpu: [] };
    }
    const env = (kind) => ({
      PATH: process.env.PATH, HOME: dir, AWS_CONFIG_FILE: cfg, AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'), AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: KEYS[kind].id, AWS_SECRET_ACCESS_KEY: KEYS[kind].secret, AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '',
    });
    // Through bash's `time`, to learn the client's CPU: the client and the server share the machine's CPUs.
    const aws = (kind, ...args) => promisify(execFile)('bash', ['-c', 'TIMEFORMAT="CLIENT_CPU %U %S"; time "$@"', 'aws', AWS, '--endpoint-url', servers[kind].endpoint, ...args],
      { env: env(kind), maxBuffer: 1 << 24 });
    await aws('ours', 's3', 'mb', 's3://bench');
    const cpuOf = (pid) => {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    };

    const kinds = Object.keys(servers);
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no server always goes first (page cache, VM neighbours).
      const order = kinds.map((_, i) => kinds[(i + r) % kinds.length]);
      for (const kind of order) {
        const s = servers[kind];
        const cpu0 = cpuOf(s.pid);
        const t0 = performance.now();
        const { stderr } = await aws(kind, 's3', 'cp', '--only-show-errors', src, `s3://bench/model-${r}.bin`);
        s.times.push((performance.now() - t0) / 1000);
        s.clientCpu.push(Number(/CLIENT_CPU ([\d.]+) ([\d.]+)/.exec(stderr)?.slice(1, 3).reduce((a, b) => Number(a) + Number(b), 0)));
        s.cpu.push(cpuOf(s.pid) - cpu0);
        if (kind === 'ours') {
          const stored = await fs.stat(path.join(s.store, 'bench', `model-${r}.bin`));
          if (stored.size !== size) throw new Error(`ours stored ${stored.size} bytes, expected ${size}`);
        }
        // Keep the disk use to one copy per server.
        for (const f of await fs.readdir(s.store, { recursive: true })) {
          const p = path.join(s.store, f);
          if ((await fs.lstat(p)).isFile() && (await fs.stat(p)).size > 1024 * 1024) await fs.rm(p);
        }
      }
      console.log(`round ${r + 1}: ${kinds.map((k) => `${k} ${(size / 1048576 / servers[k].times[r]).toFixed(0)} MiB/s`).join(', ')}`);
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rate = (k) => size / 1048576 / median(servers[k].times);
    console.log(`\n${(size / 1048576).toFixed(0)} MiB by \`aws s3 cp\` (${execFileSync(AWS, ['--version'], { encoding: 'utf8' }).split(' ')[0]}), medians of ${rounds} alternating rounds, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}:`);
    for (const k of kinds) {
      const busy = (median(servers[k].cpu) + median(servers[k].clientCpu)) / (median(servers[k].times) * os.cpus().length);
      console.log(`  ${k.padEnd(11)} ${rate(k).toFixed(0).padStart(5)} MiB/s   CPU: server ${median(servers[k].cpu).toFixed(1)} s, client ${median(servers[k].clientCpu).toFixed(1)} s, machine ${(busy * 100).toFixed(0)}% busy`);
    }
    console.log(`  ours / bare        = ${(rate('ours') / rate('bare')).toFixed(2)}×  (target ≥ 0.80×)`);
    console.log(`  ours / bare+hashes = ${(rate('ours') / rate('bare+hashes')).toFixed(2)}×  (the hashes S3 requires, nothing else)`);
    console.log(`  ours / s3rver      = ${(rate('ours') / rate('s3rver')).toFixed(2)}×  (target > 1×)`);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function loadS3rver() {
  const bases = [import.meta.url, ...(process.env.S3RVER_PREFIX ? [pathToFileURL(path.join(process.env.S3RVER_PREFIX, 'node_modules', 'x.js')).href] : [])];
  for (const base of bases) {
    try {
      return createRequire(base)('s3rver');
    } catch { /* next */ }
  }
  throw new Error('s3rver is not installed: run `npm ci` (it is a devDependency) or set S3RVER_PREFIX to an `npm install --prefix` folder');
}
