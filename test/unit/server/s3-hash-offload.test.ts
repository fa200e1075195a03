import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { HashPool } from '../../../src/server/s3/hash-offload';
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

      const wrongMd5 = await signedPut('md5.bin', body, body, { 'content-md5': createHash('md5').update('other').digest('base64') });
      assert.equal(/<Code>([^<]+)</.exec(wrongMd5.text)?.[1], 'BadDigest');
      await assert.rejects(fs.access(path.join(t.storageDir, 'outputs', 'md5.bin')));
    });
  });
});
