import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { main } from '../../../src/cli/main';
import { JobHistory } from '../../../src/core/jobs/history';
import { LeaseStore } from '../../../src/core/leases/store';
import type { Job } from '../../../src/core/jobs/schema';
import { capturedIo } from '../../support/captured-io';
import { LambdaStandIn } from '../../support/cloud-servers/lambda';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { tempDir } from '../../support/tmp';
import { API_KEY } from './harness';

const run = promisify(execFile);

/**
 * `cloudtrain submit --provider lambda` end to end against the Lambda stand-in, whose machines are
 * a real sshd on 127.0.0.1: estimate → intent → launch → active + SSH → fingerprint accepted with
 * --yes → the SSH provider syncs, runs, follows and downloads → teardown per policy, verified with
 * the provider → the lease's cost on the job.
 */
describe('cloudtrain submit on a rented machine (Lambda stand-in, real sshd)', function () {
  this.timeout(90_000);
  let sshd: SshdFixture;
  let tmp: { dir: string; cleanup: () => void };
  let lambda: LambdaStandIn;
  let ws: string;
  let home: string;

  before(async () => {
    sshd = await startSshd();
    await sshd.addTool('nvidia-smi', '#!/bin/sh\ncase "$*" in *--query-gpu*) echo "0, NVIDIA A10, GPU-x, 23028, 10, 0";; esac\n');
    await sshd.addTool('fake-train', '#!/bin/sh\nout=$1; total=$2; i=1\nwhile [ $i -le $total ]; do mkdir -p "$out/checkpoint-$i"; echo "step $i/$total"; sleep 0.05; i=$((i + 1)); done\necho weights > "$out/lora.safetensors"\n');
  });
  after(async () => { await sshd?.stop(); });
  beforeEach(async () => {
    tmp = tempDir('ct-lease-submit-');
    lambda = await new LambdaStandIn({ apiKey: API_KEY, sshd }).start();
    ws = path.join(tmp.dir, 'ws');
    home = path.join(tmp.dir, 'home');
    await fs.mkdir(path.join(ws, 'data', 'cats'), { recursive: true });
    await fs.writeFile(path.join(ws, 'data', 'cats', 'a.txt'), 'a cat');
    await fs.writeFile(path.join(ws, 'multidatabackend.json'), JSON.stringify([{ id: 'cats', type: 'local', instance_data_dir: 'data/cats' }]));
  });
  afterEach(async () => { await lambda.stop(); tmp.cleanup(); });

  const env = () => ({
    PATH: process.env.PATH, HOME: process.env.HOME, SSH_AUTH_SOCK: '',
    LAMBDA_API_KEY: API_KEY, CLOUD_TRAINING_LAMBDA_URL: lambda.url, CLOUD_TRAINING_CLOUD_SSH_PORT: String(sshd.port),
    CLOUD_TRAINING_CLOUD_SSH_USER: sshd.user, CLOUD_TRAINING_MACHINES_POLL_MS: '50',
    CLOUD_TRAINING_SSH_CONFIG: path.join(tmp.dir, 'no-ssh-config'),
  });
  const cli = async (argv: string[]) => {
    const io = capturedIo({ env: env(), cwd: ws, dataHome: home });
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  };
  const leases = () => new LeaseStore(home).list();
  const history = () => new JobHistory(home);

  it('launch → sync → run → download → verified destroy; the lease cost is on the job', async () => {
    const r = await cli(['submit', '--provider', 'lambda', '--gpu', 'gpu_1x_a10', '--config', 'multidatabackend.json', '--command', 'fake-train {output_dir} 5', '--yes']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /Machine: 1x A10 .* at \$0\.75\/h — price from lambda's own listing/);
    assert.match(r.err, /Lease estimate: \$\d+\.\d\d \(range .*\) for boot 5m.* \+ sync .* \+ training .* \+ download 2m/);
    assert.match(r.err, /key fingerprint is SHA256:[^\n]*\n(.|\n)*Accepted by --yes/);
    assert.match(r.err, /Machine gone: lambda .* cost \$0\.\d\d/);
    assert.ok(!(r.out + r.err).includes(API_KEY), 'the key never printed');

    const [lease] = await leases();
    assert.equal(lease!.state, 'gone');
    assert.equal(lease!.drainReason, 'job ended');
    assert.equal(lambda.running().length, 0, 'terminated at the provider');
    assert.equal(lambda.server.count('POST', /launch$/), 1, 'launched once');
    assert.equal(lambda.server.count('POST', /terminate$/), 1);
    const intentFirst = lambda.server.requests.find((q) => q.method === 'POST' && /launch$/.test(q.path))!.body as { name: string };
    assert.equal(intentFirst.name, `cloud-training-${lease!.id}`, 'named after the lease recorded before the launch');

    const job = (await history().list())[0] as Job;
    assert.equal(job.status, 'succeeded');
    assert.equal(job.hardware, `lease-${lease!.id}`);
    assert.equal(job.metadata.finalized, true);
    const local = job.metadata.localOutputDir as string;
    assert.equal(await fs.readFile(path.join(local, 'lora.safetensors'), 'utf8'), 'weights\n', 'outputs downloaded before the teardown');
    const recorded = job.metadata.lease as { id: string; state: string; cost: { actual: number; seconds: number } };
    assert.equal(recorded.id, lease!.id);
    assert.equal(recorded.state, 'gone');
    assert.deepEqual(recorded.cost, lease!.cost);
    assert.equal(job.cost?.actual, lease!.cost!.actual, 'the spending limits count the lease');
    assert.equal(job.cost?.pricePerHour, 0.75);
  });

  it('capacity error on launch: a clear message, no job, no lease left live, nothing running', async () => {
    lambda.server.faults.push({ method: 'POST', path: /launch$/, status: 400, body: { error: { code: 'instance-operations/launch/insufficient-capacity', message: 'Not enough capacity to fulfill launch request.', suggestion: 'Try a different region or instance type.' } } });
    const r = await cli(['submit', '--provider', 'lambda', '--gpu', 'gpu_1x_a10', '--command', 'fake-train {output_dir} 5', '--yes']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /cloudtrain submit: .*capacity/i);
    const ls = await leases();
    assert.deepEqual(ls.map((l) => l.state), ['failed']);
    assert.deepEqual(ls[0]!.cost, { actual: 0, seconds: 0 });
    assert.equal(lambda.running().length, 0);
    assert.equal((await history().list()).length, 0, 'no job was created');
  });

  it('no account in the environment: says which variable to set; bad flags are usage errors', async () => {
    const io = capturedIo({ env: { ...env(), LAMBDA_API_KEY: '' }, cwd: ws, dataHome: home });
    assert.equal(await main(['submit', '--provider', 'lambda', '--gpu', 'gpu_1x_a10', '--command', 'true', '--yes'], io), 1);
    assert.match(io.err(), /No lambda account is connected: set LAMBDA_API_KEY/);
    assert.equal((await cli(['submit', '--provider', 'lambda', '--command', 'true'])).code, 2, '--gpu missing');
    assert.equal((await cli(['submit', '--provider', 'lambda', '--gpu', 'g', '--keep', '--idle', '5'])).code, 2);
    assert.equal((await cli(['submit', '--provider', 'lambda', '--gpu', 'g', '--idle', 'soon'])).code, 2);
    assert.equal((await leases()).length, 0);
    const help = await cli(['submit', '--provider', 'runpod', '--help']);
    assert.match(help.out, /--idle N +keep it N minutes idle/);
  });

  it('an unknown GPU type lists what is offered, nothing is launched', async () => {
    const r = await cli(['submit', '--provider', 'lambda', '--gpu', 'gpu_9x_nope', '--command', 'true', '--yes']);
    assert.equal(r.code, 1);
    assert.match(r.err, /lambda does not offer "gpu_9x_nope" now \(available: .*gpu_1x_a10 \$0\.75\/h/);
    assert.equal((await leases()).length, 0);
    assert.equal(lambda.server.count('POST', /launch$/), 0);
  });

  it('--idle: kept after the job, then destroyed by a separate process (`cloudtrain jobs`) once idle time is up', async () => {
    const r = await cli(['submit', '--provider', 'lambda', '--gpu', 'gpu_1x_a10', '--command', 'fake-train {output_dir} 2', '--idle', '0.2', '--yes']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /Machine kept for 0\.2 idle minutes/);
    let [lease] = await leases();
    assert.equal(lease!.state, 'active');
    assert.ok(lease!.idleSince);
    assert.equal(lambda.running().length, 1);
    // 12 s of idle time: the submit's own pass after the job must still find time left on a loaded
    // machine (1.2 s was not always enough); the child runs once it is up.
    const upAt = Date.parse(lease!.idleSince!) + 12_000;
    await new Promise((res) => setTimeout(res, Math.max(0, upAt - Date.now()) + 300));
    const child = await run(process.execPath, ['--import', 'tsx', path.join(__dirname, 'cli-child.ts'), 'jobs'], {
      env: { ...env(), CT_DATA_HOME: home, CT_CWD: ws }, timeout: 60_000,
    });
    assert.doesNotMatch(child.stderr, /warning|WARNING/, child.stderr);
    [lease] = await leases();
    assert.equal(lease!.drainReason, 'idle for 0.2 min');
    assert.ok(['destroying', 'gone'].includes(lease!.state), `destroy sent by the child (${lease!.state})`);
    assert.equal(lambda.server.count('POST', /terminate$/), 1);
    // Any later pass of any process confirms it gone (the stand-in reports "terminating" once first).
    for (let i = 0; i < 3 && (await leases())[0]!.state !== 'gone'; i++) {
      await run(process.execPath, ['--import', 'tsx', path.join(__dirname, 'cli-child.ts'), 'machines'], { env: { ...env(), CT_DATA_HOME: home, CT_CWD: ws }, timeout: 60_000 });
    }
    [lease] = await leases();
    assert.equal(lease!.drainReason, 'idle for 0.2 min');
    assert.equal(lease!.state, 'gone');
    assert.equal(lambda.running().length, 0);
  });

  it('cancelling the job tears the machine down per policy (destroy)', async () => {
    const pending = cli(['submit', '--provider', 'lambda', '--gpu', 'gpu_1x_a10', '--command', 'fake-train {output_dir} 2000', '--yes']);
    let job: Job | undefined;
    for (const until = Date.now() + 40_000; Date.now() < until; await new Promise((res) => setTimeout(res, 100))) {
      job = (await history().list())[0];
      if (job?.status === 'running') break;
    }
    assert.equal(job?.status, 'running');
    assert.equal((await cli(['cancel', job!.id])).code, 0);
    const r = await pending;
    assert.equal(r.code, 1, 'a cancelled job is not a success');
    const [lease] = await leases();
    assert.equal(lease!.state, 'gone');
    assert.equal(lambda.running().length, 0);
    assert.equal(((await history().get(job!.id))!.metadata.lease as { state: string }).state, 'gone');
  });
});
