import assert from 'node:assert/strict';
import path from 'node:path';
import { main } from '../../../src/cli/main';
import { LambdaClient, LambdaDriver } from '../../../src/core/cloud/lambda';
import { ensureLeaseKey } from '../../../src/core/leases/ssh-keys';
import { capturedIo } from '../../support/captured-io';
import { LambdaStandIn } from '../../support/cloud-servers/lambda';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { tempDir } from '../../support/tmp';
import { API_KEY, makeManager } from './harness';

describe('cloudtrain machines', function () {
  this.timeout(60_000);
  let sshd: SshdFixture;
  let tmp: { dir: string; cleanup: () => void };
  let lambda: LambdaStandIn;
  before(async () => { sshd = await startSshd(); });
  after(async () => { await sshd?.stop(); });
  beforeEach(async () => { tmp = tempDir('ct-lease-cli-'); lambda = await new LambdaStandIn({ apiKey: API_KEY, sshd }).start(); });
  afterEach(async () => { await lambda.stop(); tmp.cleanup(); });

  const cli = async (argv: string[], key = API_KEY) => {
    const io = capturedIo({ env: { PATH: process.env.PATH, HOME: process.env.HOME, LAMBDA_API_KEY: key, CLOUD_TRAINING_LAMBDA_URL: lambda.url, CLOUD_TRAINING_CLOUD_SSH_PORT: String(sshd.port), CLOUD_TRAINING_MACHINES_POLL_MS: '20' }, cwd: tmp.dir, dataHome: tmp.dir });
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  };

  it('lists leases and orphans (--json and table), destroys a lease and an orphan with verified teardown', async () => {
    const driver = new LambdaDriver(new LambdaClient({ apiKey: API_KEY, baseUrl: lambda.url, sleep: async () => {} }), { sshPort: sshd.port });
    const key = await ensureLeaseKey(path.join(tmp.dir, 'keys'));
    const keyName = await driver.ensureSshKey(key.publicKey, 'cloud-training');
    const h = makeManager(tmp.dir, { lambda: driver }, { now: Date.now });
    await h.manager.create({ id: 'job-cli', provider: 'lambda', account: 't', gpu: 'gpu_1x_a10', region: 'us-east-1', policy: { kind: 'keep' } });
    await h.manager.launch('job-cli', { publicKey: key.publicKey, sshKeyRef: keyName });
    await h.manager.waitActive('job-cli', { pollMs: 1, maxPolls: 10 });
    const stray = (await new LambdaClient({ apiKey: API_KEY, baseUrl: lambda.url }).launch({ region_name: 'us-east-1', instance_type_name: 'gpu_1x_a10', ssh_key_names: [keyName], name: 'cloud-training-stray' }))[0]!;

    let r = await cli(['machines', '--json']);
    assert.equal(r.code, 0, r.err);
    const json = JSON.parse(r.out);
    assert.deepEqual(json.leases.map((l: { id: string; state: string }) => [l.id, l.state]), [['job-cli', 'active']]);
    assert.deepEqual(json.orphans.map((o: { id: string }) => o.id), [stray]);
    assert.ok(!r.out.includes(API_KEY));

    r = await cli(['machines']);
    assert.match(r.out, /job-cli\s+lambda\s+gpu_1x_a10\s+active/);
    assert.match(r.out, new RegExp(`ORPHAN lambda ${stray} "cloud-training-stray".*\\$0\\.75/h`));

    r = await cli(['machines', 'destroy', stray]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`orphan-${stray}: gone`));
    r = await cli(['machines', 'destroy', 'job-cli']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /job-cli: gone, cost \$/);
    assert.equal(lambda.running().length, 0);
    assert.equal((await cli(['machines', '--json'])).out.includes('"leases": []'), true);
    assert.equal((await cli(['machines', 'destroy', 'nope'])).code, 1);
  });

  it('a rejected key: exit 1, a warning that orphans there are unknown, the key nowhere in the output', async () => {
    const r = await cli(['machines'], 'sk-wrong-SECRETVALUE');
    assert.equal(r.code, 1);
    assert.match(r.err, /Could not list lambda instances.*Lambda Cloud rejected the API key \(HTTP 401\)/);
    assert.ok(!(r.out + r.err).includes('SECRETVALUE'));
  });
});
