import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { HashPool } from '../../../src/server/s3/hash-offload';
import { createChecksum } from '../../../src/server/s3/checksums';
import { Sha256, TestServer, startTestServer } from './helpers';

/**
 * Large bodies are hashed (MD5 for the ETag and Content-MD5, SHA-256 for the signed payload hash) on a
 * worker thread: the digests must be exactly those of the bytes, whatever the chunking; a wrong body is
 * still refused; a slow worker holds back reading instead of buffering; closing ends the worker.
 */
describe('S3 endpoint: body hashes on a worker thread', function () {
  this.timeout(60_000);

  describe('HashPool', () => {
    let pool: HashPool;
    beforeEach(() => { pool = new HashPool(); });
    afterEach(async () => { await pool.close(); });

    it('gives the MD5 and SHA-256 of the bytes, across odd chunk sizes and batch edges, for several bodies at once', async () => {
      const datas = [randomBytes(3 * 1024 * 1024 + 17), randomBytes(1), Buffer.alloc(0), randomBytes(1024 * 1024)];
      const bodies = datas.map((_, i) => pool.body(i !== 1));
      // Interleave the bodies' chunks, as concurrent uploads do, in uneven pieces.
      const sizes = [1, 65536, 7, 1024 * 1024 - 3, 300_000];
      const offsets = datas.map(() => 0);
      for (let round = 0; offsets.some((o, i) => o < datas[i]!.length); round++) {
        datas.forEach((d, i) => {
          const n = Math.min(sizes[(round + i) % sizes.length]!, d.length - offsets[i]!);
          if (n > 0) bodies[i]!.update(d.subarray(offsets[i]!, offsets[i]! + n));
          offsets[i]! += n;
        });
      }
      const digests = await Promise.all(bodies.map((b) => b.digest()));
      datas.forEach((d, i) => {
        assert.equal(digests[i]!.md5.toString('hex'), createHash('md5').update(d).digest('hex'), `md5 of body ${i}`);
        if (i === 1) assert.equal(digests[i]!.sha256Hex, undefined, 'no SHA-256 when the payload was not signed');
        else assert.equal(digests[i]!.sha256Hex, createHash('sha256').update(d).digest('hex'), `sha256 of body ${i}`);
      });
    });

    it('a body trickling in (the readers asleep between its chunks) is digested as soon as it ends, not at their 5 s poll', async () => {
      const body = pool.body(true, 'crc32');
      const chunks = Array.from({ length: 12 }, () => randomBytes(1000));
      for (const c of chunks) {
        body.update(c);
        await new Promise((r) => setTimeout(r, 25));
      }
      // The readers sleep between chunks: the end record must wake them, not their poll timeout.
      const t0 = Date.now();
      const d = await body.digest();
      const all = Buffer.concat(chunks);
      assert.equal(d.md5.toString('hex'), createHash('md5').update(all).digest('hex'));
      assert.equal(d.sha256Hex, createHash('sha256').update(all).digest('hex'));
      assert.ok(Date.now() - t0 < 4000, `digest took ${Date.now() - t0} ms: the end of a body must wake the readers`);
    });

    it('reports blocked while the worker is far behind, and calls back once it caught up', async () => {
      const body = pool.body(true);
      const block = randomBytes(1024 * 1024);
      // 64 MiB handed over at once: more than the worker can hash before this synchronous loop ends.
      for (let i = 0; i < 64; i++) body.update(block);
      body.update(Buffer.alloc(0));
      // The last batch goes with digest(); 63 MiB are with the worker now.
      assert.equal(pool.blocked(), true, 'blocked with 63 MiB waiting');
      const opened = new Promise<void>((resolve) => pool.onceOpen(resolve));
      await opened;
      assert.equal(pool.blocked(), false);
      const d = await body.digest();
      const h = createHash('md5');
      for (let i = 0; i < 64; i++) h.update(block);
      assert.equal(d.md5.toString('hex'), h.digest('hex'));
    });

    it('runs CRC32, SHA-1 and SHA-256 checksums as the inline ones do, through several wrap-arounds of the ring, waiting when blocked as the server does', async () => {
      const algs = ['crc32', 'sha1', 'sha256'] as const;
      const bodies = algs.map((a, i) => ({ alg: a, digest: pool.body(i === 0, a), inline: createChecksum(a)!, md5: createHash('md5'), sha: createHash('sha256') }));
      // 3 × 48 MiB in ~300 KB chunks of varying length (split into uneven records): more than four times the 32 MiB ring.
      const chunk = randomBytes(300_001);
      const pieces: Buffer[] = [];
      for (let sent = 0; sent < 48 * 1024 * 1024; sent += chunk.length) pieces.push(chunk.subarray(0, chunk.length - (sent % 7)));
      let waits = 0;
      for (const piece of pieces) {
        for (const b of bodies) b.digest.update(piece);
        if (pool.blocked()) { waits++; await new Promise<void>((resolve) => pool.onceOpen(resolve)); }
      }
      const out = await Promise.all(bodies.map((b) => b.digest.digest()));
      // The reference hashes after the run: on this thread while it ran, they would slow the producer below the worker.
      for (const piece of pieces) for (const b of bodies) { b.inline.update(piece); b.md5.update(piece); b.sha.update(piece); }
      bodies.forEach((b, i) => {
        assert.equal(out[i]!.checksumBase64, b.inline.digestBase64(), `${b.alg} checksum`);
        assert.equal(out[i]!.md5.toString('hex'), b.md5.digest('hex'), `md5 beside ${b.alg}`);
        assert.equal(out[i]!.sha256Hex, i === 0 ? b.sha.digest('hex') : undefined);
      });
      assert.ok(waits > 0, 'the producer outran the worker at least once (else backpressure went untested)');
    });

    it('a body whose worker died is refused, not digested from half its bytes; the next body gets a new worker', async () => {
      const body = pool.body(true);
      body.update(randomBytes(2 * 1024 * 1024));
      const ring = (pool as unknown as { ring: { workers: Array<{ terminate(): Promise<number> }> } }).ring;
      await ring.workers[1]!.terminate();
      await new Promise((resolve) => setImmediate(resolve));
      await assert.rejects(body.digest(), /stopped/);
      const next = pool.body(false);
      next.update(Buffer.from('after'));
      assert.equal((await next.digest()).md5.toString('hex'), createHash('md5').update('after').digest('hex'));
    });

    it('a discarded body leaves nothing pending; close rejects digests still waiting and refuses new bodies', async () => {
      const dropped = pool.body(true);
      dropped.update(randomBytes(2 * 1024 * 1024));
      dropped.discard();
      assert.equal((await pool.body(false).digest()).md5.toString('hex'), createHash('md5').digest('hex'));
      const waiting = pool.body(true);
      waiting.update(randomBytes(4 * 1024 * 1024));
      const rejected = assert.rejects(waiting.digest(), /closed/);
      await pool.close();
      await rejected;
      assert.throws(() => pool.body(true), /closed/);
    });
  });

  describe('through the server (bodies over 1 MiB take the worker path)', () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer();
      await t.client().send(new CreateBucketCommand({ Bucket: 'outputs' }));
    });
    after(async () => { await t?.dispose(); });

    async function signedPut(key: string, signedBody: Buffer, sentBody: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; etag?: string; text: string }> {
      const url = new URL(t.server.storageEndpoint);
      const signer = new SignatureV4({ credentials: t.admin, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
      const signed = await signer.sign({
        method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: `${url.pathname}/outputs/${key}`,
        headers: { host: url.host, 'content-length': String(sentBody.length), ...headers }, body: signedBody,
      });
      return new Promise((resolve, reject) => {
        const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path: signed.path, headers: signed.headers as Record<string, string> }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => resolve({ status: res.statusCode!, etag: res.headers.etag, text }));
        });
        req.on('error', reject);
        req.end(sentBody);
      });
    }

    it('stores a 6 MiB signed PUT with the MD5 ETag, and refuses one whose bytes differ from the signed hash or Content-MD5', async () => {
      const body = randomBytes(6 * 1024 * 1024 + 5);
      const ok = await signedPut('big.bin', body, body, { 'content-md5': createHash('md5').update(body).digest('base64') });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.etag, `"${createHash('md5').update(body).digest('hex')}"`);
      assert.ok((await fs.readFile(path.join(t.storageDir, 'outputs', 'big.bin'))).equals(body));

      const tampered = Buffer.from(body);
      tampered[5 * 1024 * 1024] = tampered[5 * 1024 * 1024]! ^ 1;
      const bad = await signedPut('tampered.bin', body, tampered);
      assert.equal(/<Code>([^<]+)</.exec(bad.text)?.[1], 'XAmzContentSHA256Mismatch');
      await assert.rejects(fs.access(path.join(t.storageDir, 'outputs', 'tampered.bin')));

      // The flexible checksum is computed on the worker too: right is stored, wrong is BadDigest.
      const crc = createChecksum('crc32')!;
      crc.update(body);
      const withCrc = await signedPut('crc.bin', body, body, { 'x-amz-checksum-crc32': crc.digestBase64() });
      assert.equal(withCrc.status, 200, withCrc.text);
      const wrongCrc = await signedPut('crc-bad.bin', body, body, { 'x-amz-checksum-crc32': 'AAAAAA==' });
      assert.equal(/<Code>([^<]+)</.exec(wrongCrc.text)?.[1], 'BadDigest');
      await assert.rejects(fs.access(path.join(t.storageDir, 'outputs', 'crc-bad.bin')));

      const wrongMd5 = await signedPut('md5.bin', body, body, { 'content-md5': createHash('md5').update('other').digest('base64') });
      assert.equal(/<Code>([^<]+)</.exec(wrongMd5.text)?.[1], 'BadDigest');
      await assert.rejects(fs.access(path.join(t.storageDir, 'outputs', 'md5.bin')));
    });
  });
});
