import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { main } from '../../../src/cli/main';
import { ExitCode, UsageError } from '../../../src/cli/io';
import { parseResultsFlags } from '../../../src/cli/results';
import { tempDir } from '../../support/tmp';
import { capturedIo } from '../../support/captured-io';
import { startTestServer, type TestServer } from '../server/helpers';

const EXAMPLE = path.resolve(__dirname, '../../../examples/simpletuner-demo');

describe('cli: results destination flags', () => {
  it('parses hf:, s3:// (with endpoint and region), local and none into DestinationSchema values', () => {
    assert.equal(parseResultsFlags({}), undefined);
    assert.equal(parseResultsFlags({ results: 'none' }), null);
    assert.deepEqual(parseResultsFlags({ results: 'local' }), { kind: 'local', bucket: 'cloud-training', ttlSeconds: 7 * 24 * 3600 });
    assert.deepEqual(parseResultsFlags({ results: 'hf:me/my-lora' }), { kind: 'huggingface', repoId: 'me/my-lora', private: true, revision: 'main', endpoint: 'https://huggingface.co' });
    assert.deepEqual(parseResultsFlags({ results: 'hf:me/my-lora', 'results-endpoint': 'http://127.0.0.1:9/hub' }),
      { kind: 'huggingface', repoId: 'me/my-lora', private: true, revision: 'main', endpoint: 'http://127.0.0.1:9/hub' });
    assert.deepEqual(parseResultsFlags({ results: 's3://my-bucket/loras/flux/' }), { kind: 's3', bucket: 'my-bucket', prefix: 'loras/flux', region: 'us-east-1', forcePathStyle: true });
    assert.deepEqual(parseResultsFlags({ results: 's3://my-bucket', 'results-endpoint': 'https://minio.example.com:9000', 'results-region': 'eu-west-1' }),
      { kind: 's3', bucket: 'my-bucket', prefix: '', endpoint: 'https://minio.example.com:9000', region: 'eu-west-1', forcePathStyle: true });
  });

  it('bad input: a UsageError naming the flag, what is wrong and an example, on one line', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ results: 'dropbox:foo' }, /^--results: "dropbox:foo" is not a destination: use hf:<owner\/repo>, s3:\/\/<bucket>\/<prefix>, local or none \(e\.g\. --results s3:\/\/my-bucket\/loras/],
      [{ results: '' }, /^--results: is empty/],
      [{ results: 'hf:not-a-repo' }, /^--results: "not-a-repo" is not a HuggingFace repo id <owner>\/<name> \(e\.g\. --results hf:me\/my-lora\)/],
      [{ results: 'hf:' }, /^--results: "\(empty\)" is not a HuggingFace repo id/],
      [{ results: 's3://' }, /^--results: "s3:\/\/" names no bucket \(e\.g\. --results s3:\/\/my-bucket\/loras\)/],
      [{ results: 's3://My_Bucket/x' }, /^--results: "My_Bucket" is not a valid bucket name/],
      [{ results: 's3://ab/x' }, /not a valid bucket name/],
      [{ results: 's3://bucket/../etc' }, /may not contain "\." or "\.\." segments/],
      [{ results: 's3:bucket/x' }, /is not an S3 URL: write it as s3:\/\/<bucket>\/<prefix>/],
      [{ results: 'S3://bucket/x' }, /is not an S3 URL/],
      [{ results: 's3://bucket', 'results-endpoint': 'minio:9000' }, /^--results-endpoint: "minio:9000" is not an http\(s\) URL \(e\.g\. --results-endpoint https:\/\//],
      [{ results: 's3://bucket', 'results-region': 'eu west' }, /^--results-region: "eu west" is not a region name/],
      [{ results: 'hf:me/lora', 'results-region': 'eu-west-1' }, /^--results-region: does not apply to a HuggingFace destination/],
      [{ results: 'none', 'results-endpoint': 'https://x.example' }, /^--results-endpoint: does not apply to --results none/],
      [{ results: 'local', 'results-region': 'us-east-1' }, /^--results-region: does not apply to --results local/],
      [{ 'results-endpoint': 'https://x.example' }, /^--results-endpoint: needs --results s3:\/\/<bucket>\/<prefix> or --results hf:<owner\/repo>/],
      [{ 'results-region': 'us-east-1' }, /^--results-region: needs --results s3:\/\//],
    ];
    for (const [flags, re] of cases) {
      assert.throws(() => parseResultsFlags(flags), (e: Error) => {
        assert.ok(e instanceof UsageError, `${JSON.stringify(flags)}: ${e}`);
        assert.match(e.message, re, JSON.stringify(flags));
        assert.equal(e.message.split('\n').length, 1);
        return true;
      });
    }
  });

  describe('submit --results and deliver, end to end', function () {
    this.timeout(60_000);
    let t: ReturnType<typeof tempDir>;
    let s3: TestServer;
    const saved = process.env.DEMO_STEP_SECONDS;
    beforeEach(async () => {
      t = tempDir();
      s3 = await startTestServer();
      await fs.mkdir(path.join(s3.storageDir, 'models'));
      process.env.DEMO_STEP_SECONDS = '0.002';
    });
    afterEach(async () => {
      await s3.dispose();
      t.cleanup();
      if (saved === undefined) delete process.env.DEMO_STEP_SECONDS; else process.env.DEMO_STEP_SECONDS = saved;
    });

    async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
      const io = capturedIo({ env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, cwd: EXAMPLE, dataHome: t.dir });
      const code = await main(argv, io);
      return { code, out: io.out(), err: io.err() };
    }
    const keys = async (prefix = '') => ((await s3.client().send(new ListObjectsV2Command({ Bucket: 'models', Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).sort();

    it('submit --results s3://… delivers with AWS_* from the environment; a bad key is recorded and `deliver` retries', async () => {
      const endpoint = s3.server.storageEndpoint;
      const badEnv = { AWS_ACCESS_KEY_ID: s3.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: 'wrong-secret-key-123' };
      const sub = await cli(['submit', '--provider', 'local', '--config', 'config/config.json', '--results', 's3://models/demo', '--results-endpoint', endpoint, '--yes', '--follow'], badEnv);
      assert.equal(sub.code, 0, `the job succeeded even though the delivery failed: ${sub.err}`);
      const id = sub.out.split('\n')[0]!;
      assert.match(sub.err, /Delivering the outputs to s3:\/\/models\/demo\/.* failed: SignatureDoesNotMatch/);
      assert.match(sub.err, new RegExp(`retry: cloudtrain deliver ${id}`));
      assert.ok(!sub.err.includes('wrong-secret-key-123'));
      assert.deepEqual(await keys(), []);

      const [job] = JSON.parse((await cli(['jobs', '--json'])).out);
      assert.equal(job.status, 'succeeded');
      assert.equal(job.metadata.resultsDestination.bucket, 'models');
      assert.match(job.metadata.deliveryError, /SignatureDoesNotMatch/);
      const folder = job.outputs.find((o: { kind: string }) => o.kind === 'directory').uri as string;
      assert.ok((await fs.stat(path.join(folder, 'pytorch_lora_weights.json'))).size > 0, 'the outputs are still there');
      assert.ok(!JSON.stringify(job).includes('wrong-secret-key-123'));

      // Still the wrong key: exit 1 with the reason. The right one: delivered, URIs printed.
      const again = await cli(['deliver', id.slice(0, 10)], badEnv);
      assert.equal(again.code, ExitCode.error);
      assert.match(again.err, /cloudtrain deliver: Delivering the outputs .* failed: SignatureDoesNotMatch/);
      const ok = await cli(['deliver', id], { AWS_ACCESS_KEY_ID: s3.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.admin.secretAccessKey });
      assert.equal(ok.code, 0, ok.err);
      assert.equal(ok.out.trim(), `${endpoint}/models/demo/${id}/`);
      const delivered = await keys(`demo/${id}/`);
      assert.ok(delivered.includes(`demo/${id}/pytorch_lora_weights.json`), delivered.join(', '));
      const body = await (await s3.client().send(new GetObjectCommand({ Bucket: 'models', Key: `demo/${id}/pytorch_lora_weights.json` }))).Body!.transformToString();
      assert.equal(body, await fs.readFile(path.join(folder, 'pytorch_lora_weights.json'), 'utf8'));
      const [after] = JSON.parse((await cli(['jobs', '--json', '--no-refresh'])).out);
      assert.equal(after.metadata.deliveryError, undefined);
      assert.equal(after.statusDetail, undefined);

      // To another destination afterwards; bad usage is exit 2.
      const other = await cli(['deliver', id, '--results', 's3://models/copies', '--results-endpoint', endpoint], { AWS_ACCESS_KEY_ID: s3.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.admin.secretAccessKey });
      assert.equal(other.code, 0, other.err);
      assert.ok((await keys(`copies/${id}/`)).length > 0);
      assert.equal((await cli(['deliver', id, '--results', 'nowhere'])).code, ExitCode.usage);
      assert.equal((await cli(['deliver'])).code, ExitCode.usage);
    });

    it('submit refuses bad flags (exit 2) and a destination without credentials before anything runs (exit 1)', async () => {
      const bad = await cli(['submit', '--provider', 'local', '--results', 's3:/models', '--yes']);
      assert.equal(bad.code, ExitCode.usage);
      assert.match(bad.err, /^cloudtrain submit: --results: "s3:\/models" is not an S3 URL/);
      const replicateLocal = await cli(['submit', '--provider', 'replicate', '--results', 'local', '--yes']);
      assert.equal(replicateLocal.code, ExitCode.usage);
      assert.match(replicateLocal.err, /--results local: Replicate would upload to the editor's local endpoint/);

      const noCreds = await cli(['submit', '--provider', 'local', '--config', 'config/config.json', '--results', 's3://models/demo', '--results-endpoint', s3.server.storageEndpoint, '--yes']);
      assert.equal(noCreds.code, ExitCode.error);
      assert.match(noCreds.err, /No S3 credentials/);
      assert.deepEqual(JSON.parse((await cli(['jobs', '--json'])).out), [], 'nothing was started or kept');

      const help = await cli(['submit', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.out, /--results hf:<owner\/repo>/);
      assert.match(help.out, /--results-endpoint URL/);
    });
  });
});
