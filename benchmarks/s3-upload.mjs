#!/usr/bin/env node
// Uploads a 1 GB file to the built-in S3 endpoint with @aws-sdk/client-s3 (lib-storage Upload, as a
// trainer's client would) and prints its throughput beside `cp` of the same file in the same run,
// plus the server's peak RSS (the server runs in a child process so its memory is its own).
// Also printed, to tell the endpoint's cost from the client's and the machine's: a bare Node http
// PUT→file (no S3 at all), a streamed PutObject, a presigned PUT (no hashing on either side), and
// SHA-256 of the file (SigV4 over plain HTTP makes client and server hash every byte).
// Usage: node benchmarks/s3-upload.mjs [--mb 1024]
import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import { createReadStream, createWriteStream, promises as fs, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createHash, randomFillSync } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);

if (argv[0] === '--server') {
  // Child: the server alone, reporting its endpoint on stdout.
  const { startLocalServer, CredentialStore } = await import(pathToFileURL(path.join(root, 'src/server/index.ts')).href);
  const credentials = new CredentialStore();
  credentials.setConfigured([{ accessKeyId: 'BENCHKEY', secretAccessKey: 'bench-secret-0123456789' }]);
  const server = await startLocalServer({ storageDir: argv[1], credentials });
  process.stdout.write(`${server.storageEndpoint}\n`);
  process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
} else {
  const mb = Number(argv[argv.indexOf('--mb') + 1] ?? 1024) || 1024;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-s3-bench-'));
  const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_SERVER_PROF] : []), '--import', 'tsx', fileURLToPath(import.meta.url), '--server', path.join(dir, 'storage')], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const src = path.join(dir, 'model.bin');
    const block = Buffer.alloc(16 * 1024 * 1024);
    randomFillSync(block);
    const fh = await fs.open(src, 'w');
    for (let i = 0; i < mb / 16; i++) await fh.write(block);
    await fh.close();
    const size = (await fs.stat(src)).size;

    const endpoint = await new Promise((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (c) => {
        buf += c;
        if (buf.includes('\n')) resolve(buf.trim());
      });
      child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });

    // Baseline: a plain local copy of the same file (page cache warm for both).
    let t0 = performance.now();
    execFileSync('cp', [src, path.join(dir, 'copy.bin')]);
    const cpSec = (performance.now() - t0) / 1000;
    await fs.rm(path.join(dir, 'copy.bin'));

    // Second baseline: the floor of any Node HTTP upload here — a bare http server piping the body to a file.
    const bare = http.createServer((req, res) => {
      pipeline(req, createWriteStream(path.join(dir, 'bare.bin'), { highWaterMark: 4 * 1024 * 1024 })).then(() => res.end('ok'), () => res.destroy());
    });
    await new Promise((r) => bare.listen(0, '127.0.0.1', r));
    t0 = performance.now();
    await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: bare.address().port, method: 'PUT', path: '/', headers: { 'content-length': size } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      createReadStream(src, { highWaterMark: 1024 * 1024 }).pipe(req);
    });
    const bareSec = (performance.now() - t0) / 1000;
    bare.close();
    await fs.rm(path.join(dir, 'bare.bin'));

    // The hashing ceiling: SigV4 over plain HTTP makes both client and server SHA-256 every byte.
    t0 = performance.now();
    const h = createHash('sha256');
    for await (const c of createReadStream(src, { highWaterMark: 1024 * 1024 })) h.update(c);
    h.digest();
    const shaSec = (performance.now() - t0) / 1000;

    const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
    const { Upload } = await import('@aws-sdk/lib-storage');
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'BENCHKEY', secretAccessKey: 'bench-secret-0123456789' } });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const cpu0 = process.cpuUsage();
    const srvCpu = () => { const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
    const srv0 = srvCpu();
    t0 = performance.now();
    await new Upload({ client: s3, params: { Bucket: 'bench', Key: 'out/model.bin', Body: createReadStream(src) } }).done();
    const upSec = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const srvSec = srvCpu() - srv0;
    // The same file as one streamed PutObject: the SDK sends aws-chunked with a CRC32 trailer (no SHA-256).
    t0 = performance.now();
    await s3.send(new PutObjectCommand({ Bucket: 'bench', Key: 'out/model-put.bin', Body: createReadStream(src, { highWaterMark: 1024 * 1024 }), ContentLength: size }));
    const putSec = (performance.now() - t0) / 1000;
    // The endpoint's own ceiling: a presigned PUT (UNSIGNED-PAYLOAD) streamed by plain Node http,
    // so the client spends nothing on hashing.
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    const url = new URL(await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'bench', Key: 'out/model-presigned.bin' }), { expiresIn: 600 }));
    t0 = performance.now();
    await new Promise((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path: url.pathname + url.search, headers: { 'content-length': size } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`presigned PUT → ${res.statusCode}`))));
      });
      req.on('error', reject);
      createReadStream(src, { highWaterMark: 1024 * 1024 }).pipe(req);
    });
    const preSec = (performance.now() - t0) / 1000;

    for (const name of ['model.bin', 'model-put.bin', 'model-presigned.bin']) {
      const stored = await fs.stat(path.join(dir, 'storage', 'bench', 'out', name));
      if (stored.size !== size) throw new Error(`stored ${stored.size} bytes for ${name}, expected ${size}`);
    }
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];

    s3.destroy();
    const mbps = (s) => (size / 1024 / 1024 / s).toFixed(0);
    console.log(`file: ${(size / 1024 / 1024).toFixed(0)} MiB`);
    console.log(`cp (baseline):            ${cpSec.toFixed(2)} s  ${mbps(cpSec)} MiB/s`);
    console.log(`bare Node http PUT→file:  ${bareSec.toFixed(2)} s  ${mbps(bareSec)} MiB/s  = ${(cpSec / bareSec).toFixed(2)}× cp speed (no S3, no auth: the floor of HTTP here)`);
    console.log(`S3 upload (lib-storage):  ${upSec.toFixed(2)} s  ${mbps(upSec)} MiB/s  = ${(cpSec / upSec).toFixed(2)}× cp speed (target ≥ 0.5×)`);
    console.log(`S3 PutObject (stream):    ${putSec.toFixed(2)} s  ${mbps(putSec)} MiB/s  = ${(cpSec / putSec).toFixed(2)}× cp speed`);
    console.log(`presigned PUT (no hashing): ${preSec.toFixed(2)} s  ${mbps(preSec)} MiB/s  = ${(cpSec / preSec).toFixed(2)}× cp speed (the endpoint's ceiling)`);
    console.log(`sha256 of the file alone: ${shaSec.toFixed(2)} s  ${mbps(shaSec)} MiB/s  (ceiling for signed-payload uploads on this CPU)`);
    console.log(`CPU during upload: client ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, server ${srvSec.toFixed(1)} s`);
    console.log(`server peak RSS: ${hwm ? (Number(hwm) / 1024).toFixed(0) : '?'} MiB`);
  } finally {
    child.kill('SIGTERM');
    await fs.rm(dir, { recursive: true, force: true });
  }
}
