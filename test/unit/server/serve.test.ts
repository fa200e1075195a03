import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { JobHistory } from '../../../src/core/jobs/history';
import { CredentialStore, credentialFile } from '../../../src/server/index';

const root = path.resolve(__dirname, '../../..');

describe('cloudtrain serve', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-serve-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('serves the endpoint, accepts a running job\'s persisted credentials, links its outputs, and stops on SIGINT', async () => {
    const home = path.join(dir, 'home');
    const storage = path.join(dir, 'store');
    const history = new JobHistory(home);
    const now = new Date().toISOString();
    await history.add({ id: 'job-abc', name: 'lora', provider: 'replicate', status: 'running', createdAt: now, updatedAt: now } as never);
    // Minted by an earlier VS Code session (persisted), used by the job after this server started.
    const minted = await (await CredentialStore.open(credentialFile(home))).mintJobCredentials({ jobId: 'job-abc', bucket: 'cloud-training', prefix: 'jobs/job-abc/', ttlSeconds: 600 });

    const script = `require(${JSON.stringify(path.join(root, 'src/cli/commands/serve.ts'))}).runServe(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), dataHome: ${JSON.stringify(home)} }).then((c) => { process.exitCode = c; });`;
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script, '--', '--port', '0', '--storage', storage], {
      cwd: root, env: { ...process.env, CLOUDTRAIN_S3_ACCESS_KEY_ID: 'MYKEY', CLOUDTRAIN_S3_SECRET_ACCESS_KEY: 'my-secret-key-123' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (c) => (stdout += c));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const endpoint = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no endpoint printed: ${stdout}`)), 30_000);
        child.stdout.on('data', () => {
          const m = /S3 endpoint: (\S+)/.exec(stdout);
          if (m) { clearTimeout(timer); resolve(m[1]!); }
        });
      });
      assert.match(stdout, /Cloud Training server: http:\/\/127\.0\.0\.1:\d+/);
      const job = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: minted, maxAttempts: 1 });
      const me = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'MYKEY', secretAccessKey: 'my-secret-key-123' }, maxAttempts: 1 });
      try {
        await job.send(new PutObjectCommand({ Bucket: 'cloud-training', Key: 'jobs/job-abc/lora.safetensors', Body: 'w'.repeat(100) }));
        await me.send(new PutObjectCommand({ Bucket: 'cloud-training', Key: 'notes.txt', Body: 'mine' }));
      } finally {
        job.destroy();
        me.destroy();
      }
      assert.equal(await fs.readFile(path.join(storage, 'cloud-training', 'jobs', 'job-abc', 'lora.safetensors'), 'utf8'), 'w'.repeat(100));
      // The link to the job is written asynchronously after the object is stored.
      let linked;
      for (let i = 0; i < 50 && !linked; i++) {
        linked = (await history.get('job-abc'))?.outputs.find((o) => o.kind === 'directory');
        if (!linked) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(linked?.uri, path.join(storage, 'cloud-training', 'jobs', 'job-abc'));
      assert.equal(linked?.bytes, 100);
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.match(stdout, /stopped/);
      // No secret ended up in the job history.
      const historyText = await fs.readFile(history.file, 'utf8');
      assert.ok(!historyText.includes(minted.secretAccessKey));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('--path-prefix / mounts the S3 API at the root; a bad prefix is a usage error', async () => {
    const home = path.join(dir, 'home');
    const script = `require(${JSON.stringify(path.join(root, 'src/cli/commands/serve.ts'))}).runServe(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), dataHome: ${JSON.stringify(home)} }).then((c) => process.exit(c), (e) => { console.error(e.message); process.exit(2); });`;
    const env = { ...process.env, CLOUDTRAIN_S3_ACCESS_KEY_ID: 'MYKEY', CLOUDTRAIN_S3_SECRET_ACCESS_KEY: 'my-secret-key-123' };
    const bad = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script, '--', '--port', '0', '--storage', path.join(dir, 'store'), '--path-prefix', 'relative/x'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let badErr = '';
    bad.stderr.on('data', (c) => (badErr += c));
    assert.notEqual(await new Promise<number | null>((r) => bad.once('exit', (c) => r(c))), 0);
    assert.match(badErr, /--path-prefix/);

    const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script, '--', '--port', '0', '--storage', path.join(dir, 'store'), '--path-prefix', '/'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c) => (stdout += c));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const endpoint = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no endpoint printed: ${stdout}`)), 30_000);
        child.stdout.on('data', () => {
          const m = /S3 endpoint: (\S+)/.exec(stdout);
          if (m) { clearTimeout(timer); resolve(m[1]!); }
        });
      });
      assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
      const me = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'MYKEY', secretAccessKey: 'my-secret-key-123' }, maxAttempts: 1 });
      try {
        await me.send(new CreateBucketCommand({ Bucket: 'at-root' }));
        await me.send(new PutObjectCommand({ Bucket: 'at-root', Key: 'k.txt', Body: 'root' }));
      } finally {
        me.destroy();
      }
      assert.equal(await fs.readFile(path.join(dir, 'store', 'at-root', 'k.txt'), 'utf8'), 'root');
      assert.equal((await fetch(`${endpoint}/api/cloud/health`)).status, 200);
      child.kill('SIGINT');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
