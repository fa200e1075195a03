import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobSchema, isTerminal, type Job, type JobStatus } from '../../../src/core/jobs/schema';
import type { SlurmClustersProvider } from '../../../src/providers/slurm/clusters-provider';
import { detectSlurm } from '../../../src/providers/slurm/commands';
import { createSlurmProvider } from '../../../src/providers/slurm/factory';
import { PREVIEW_JOB_ID, SlurmProvider, gpuStepRefusal, type SlurmSubmitOptions } from '../../../src/providers/slurm/provider';
import { GpuSamplingUnavailable, parseGpuSample } from '../../../src/core/gpu/samples';
import { connectCluster, type SshCommandRunner } from '../../../src/providers/slurm/ssh';
import type { HostSources } from '../../../src/providers/ssh/hosts';
import type { SlurmResourcesInput } from '../../../src/providers/slurm/resources';
import { localRunner } from '../../../src/providers/slurm/runner';
import type { ProviderContext, StatusUpdate, SubmitRequest } from '../../../src/core/providers/types';
import { startSlurmCluster, type SlurmClusterFixture } from '../../support/slurm-cluster';
import { startSshd, type SshdFixture } from '../../support/sshd';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { s3SecretName } from '../../../src/core/destinations/schema';
import { startTestServer } from '../server/helpers';
import { submitCommand } from '../../../src/cli/commands/submit';
import { runLogs } from '../../../src/cli/commands/logs';
import { capturedIo } from '../../support/captured-io';
import { resubmitInput } from '../../../src/providers/resubmit';

/**
 * The Slurm provider against a real one-node Slurm (slurmctld + slurmd + munged on 127.0.0.1),
 * reached through a real sshd, as a login node would be.
 */
describe('slurm provider (real Slurm through sshd)', function () {
  this.timeout(150_000);
  let cluster: SlurmClusterFixture;
  let sshd: SshdFixture;
  let provider: SlurmClustersProvider;
  let home: string;
  let ctx: ProviderContext;
  let timeoutJob: Job;
  let seq = 0;

  before(async () => {
    cluster = await startSlurmCluster();
    // The login shell finds the cluster the way a real login node's /etc/slurm would: SLURM_CONF.
    sshd = await startSshd({ env: cluster.env });
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-slurm-home-'));
    ctx = { dataHome: home };
    // The production wiring: cluster from settings, login node resolved like an SSH host (known_hosts, key).
    provider = createSlurmProvider({
      clusters: () => [{ host: 'slurm-login', sharedDir: cluster.sharedDir, partition: 'debug', pricePerGpuHour: 3.6 }],
      hostSources,
      cacheDir: path.join(home, 'cache'),
    });
    // The time-limit job needs a minute of wall time: start it first so it runs alongside the rest.
    timeoutJob = await submit({ program: 'while true; do echo tick; sleep 2; done', resources: { timeLimit: '1' } });
  });

  after(async () => {
    await provider?.dispose();
    await sshd?.stop();
    await cluster?.stop();
    if (home) await fs.rm(home, { recursive: true, force: true });
  });

  /** The test sshd as the SSH settings would name it. */
  function hostSources(): HostSources {
    return {
      configFile: path.join(home, 'no-ssh-config'), home, agent: false, knownHostsFiles: [sshd.knownHostsPath],
      settingsHosts: [{ name: 'slurm-login', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath }],
    };
  }

  function newJob(): Job {
    const now = new Date().toISOString();
    return JobSchema.parse({ id: `job-${Date.now().toString(36)}-${++seq}`, name: 't', provider: 'slurm', status: 'uploading', createdAt: now, updatedAt: now });
  }

  async function submit(o: Partial<Omit<SlurmSubmitOptions, 'resources'>> & { resources?: SlurmResourcesInput }, request: Partial<SubmitRequest> = {}): Promise<Job> {
    const job = newJob();
    const options = { launcher: 'srun', ...o, resources: { cpusPerTask: 1, gpusPerNode: 0, timeLimit: '5', ...o.resources } };
    const r = await provider.submit(job, { ...request, options }, ctx);
    assert.match(r.providerJobId, /^\d+$/);
    return { ...job, providerJobId: r.providerJobId, status: r.status, metadata: { ...job.metadata, ...r.metadata } };
  }

  /** Poll until `until` holds (bounded), recording every distinct status seen. */
  async function pollUntil(job: Job, until: (u: StatusUpdate) => boolean, ms = 30_000): Promise<{ last: StatusUpdate; seen: JobStatus[] }> {
    const seen: JobStatus[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const u = await provider.status(job, ctx);
      if (seen[seen.length - 1] !== u.status) seen.push(u.status);
      if (until(u)) return { last: u, seen };
      if (Date.now() > deadline) throw new Error(`timed out; last ${JSON.stringify(u)}; seen ${seen.join('→')}\n${await cluster.logs()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** The whole log so far, fetched in pieces by byte offset as the log mirror would. */
  async function tailAll(job: Job, into: Buffer[]): Promise<string> {
    for (;;) {
      const offset = into.reduce((n, b) => n + b.length, 0);
      const chunk = await provider.fetchLogs(job, offset, ctx);
      if (!chunk.length) break;
      into.push(chunk);
    }
    return Buffer.concat(into).toString('utf8');
  }

  it('detects a Slurm login node, and a host without Slurm', async () => {
    const ok = await provider.validateCredentials();
    assert.equal(ok.ok, true, ok.message);
    assert.match(ok.message, /Slurm \d+\.\d+/);
    const none = await detectSlurm(localRunner({ PATH: '/nonexistent' }));
    assert.equal(none.isSlurm, false);
    assert.match(none.message, /not installed/);
  });

  it('lists the configured cluster as hardware, and its partitions from sinfo', async () => {
    assert.deepEqual((await provider.listHardware()).map((h) => [h.id, h.pricePerHour]), [['slurm-login/debug', 3.6]]);
    const parts = await provider.forHost('slurm-login').listHardware();
    assert.deepEqual(parts.map((h) => h.id).sort(), ['debug', 'wide']);
    assert.match(parts.find((h) => h.id === 'debug')!.label, /default/);
    assert.match(parts.find((h) => h.id === 'wide')!.detail!, /2 nodes/);
  });

  it('runs a job PENDING → RUNNING → COMPLETED: data synced, log tailed by offset, GPU-hours priced, outputs downloaded', async () => {
    const ws = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-slurm-ws-'));
    try {
      // A small workspace: code folder, one local dataset, configs.
      await fs.mkdir(path.join(ws, 'code'));
      await fs.writeFile(path.join(ws, 'code', 'steps.txt'), '5\n');
      await fs.mkdir(path.join(ws, 'data', 'images'), { recursive: true });
      await fs.writeFile(path.join(ws, 'data', 'images', 'a.txt'), 'a caption');
      await fs.mkdir(path.join(ws, 'config'));
      await fs.writeFile(path.join(ws, 'config', 'config.json'), JSON.stringify({ '--max_train_steps': 5 }));
      await fs.writeFile(path.join(ws, 'config', 'multidatabackend.json'), JSON.stringify([
        { id: 'pics', type: 'local', instance_data_dir: 'data/images', cache_dir_vae: 'cache/vae' },
        { id: 'te', type: 'local', dataset_type: 'text_embeds', cache_dir: 'cache/te' },
      ]));
      const job = await submit({
        // --begin holds it in the queue for a moment, so PENDING is seen for sure.
        sbatchArgs: ['--begin=now+2'],
        codeDir: 'code',
        resources: { gpusPerNode: 1 },
        program: [
          'echo "gpus=$CUDA_VISIBLE_DEVICES token_len=${#HF_TOKEN}"',
          'echo "images: $(ls {dataset_dir})"',
          'grep -o \'"instance_data_dir": "[^"]*"\' {dataloader}',
          'n=$(cat steps.txt); for i in $(seq 1 $n); do echo "step $i/$n loss=0.$i"; sleep 0.7; done',
          'echo weights > {output_dir}/lora.safetensors',
        ].join('; '),
      }, {
        env: { HF_TOKEN: 'hf_secret_value' }, cwd: ws,
        trainingConfigPath: path.join(ws, 'config', 'config.json'), dataloaderConfigPath: path.join(ws, 'config', 'multidatabackend.json'),
      });
      const meta = job.metadata as { jobDir: string; outputPath: string; scriptPath: string };
      const script = await fs.readFile(meta.scriptPath, 'utf8');
      assert.doesNotMatch(script, /hf_secret_value/, 'secrets stay out of the script');
      assert.match(script, /# Environment: HF_TOKEN/);
      assert.match(script, /#SBATCH --gres=gpu:1/);
      assert.equal((await fs.stat(path.join(meta.jobDir, 'job.env'))).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(await fs.readFile(path.join(meta.jobDir, 'config.json'), 'utf8')), { '--max_train_steps': 5 });

      const first = await provider.status(job, ctx);
      assert.equal(first.status, 'queued');
      assert.equal(first.providerStatus, 'PENDING');
      assert.match(first.statusDetail ?? '', /BeginTime/);

      const chunks: Buffer[] = [];
      // The job becomes eligible 2 s after submit, and starts at the next scheduler pass: give a loaded machine time.
      const seenRunning = await pollUntil(job, (u) => u.status === 'running', 90_000);
      const mid = await tailAll(job, chunks); // part of the log while it runs
      const { last, seen } = await pollUntil(job, (u) => isTerminal(u.status));
      const log = await tailAll(job, chunks);

      // The first status belongs in the sequence: under load the next poll may already see RUNNING.
      assert.deepEqual([first.status, ...seenRunning.seen, ...seen].filter((s, i, a) => s !== a[i - 1]), ['queued', 'running', 'succeeded'], log);
      assert.equal(last.providerStatus, 'COMPLETED');
      assert.equal(await fs.readFile(path.join(meta.jobDir, `exit_code.${job.providerJobId}`), 'utf8'), '0\n', 'the script recorded its end, for when Slurm forgets the job');
      assert.ok(mid.length <= log.length && log.startsWith(mid));
      assert.match(log, /gpus=0 token_len=15/);
      assert.match(log, /^images: a\.txt$/m, 'the dataset was synced to the shared folder');
      assert.match(log, new RegExp(`"instance_data_dir": "${cluster.sharedDir}/cloud-training/[^/]+/datasets/pics"`), 'the dataloader points at the synced copy');
      const steps = log.split('\n').filter((l) => l.startsWith('step '));
      assert.deepEqual(steps, ['1', '2', '3', '4', '5'].map((i) => `step ${i}/5 loss=0.${i}`), 'every line once, in order');
      assert.match(log, /\[cloud-training\] job \d+: 1 node/);
      assert.ok(last.startedAt && last.finishedAt);
      // 1 GPU × elapsed seconds × $3.60/GPU-hour = $0.001 per second.
      assert.ok(last.cost && last.cost.billedSeconds! >= 3, JSON.stringify(last.cost));
      assert.equal(last.cost.actual, Math.round((last.cost.billedSeconds! / 3600) * 3.6 * 1e6) / 1e6);
      assert.equal((await provider.fetchLogs(job, Buffer.concat(chunks).length, ctx)).length, 0, 'nothing past the end');

      const fin = await provider.finalize(job, ctx);
      const local = path.join(ws, 'outputs', job.id);
      assert.equal(fin.outputs?.[0]?.uri, local);
      assert.equal(await fs.readFile(path.join(local, 'lora.safetensors'), 'utf8'), 'weights\n');
    } finally {
      await fs.rm(ws, { recursive: true, force: true });
    }
  });

  it('delivers a succeeded job\'s downloaded outputs to its S3 destination (no workspace: downloaded into the data folder)', async () => {
    const s3 = await startTestServer();
    const delivering = createSlurmProvider({
      clusters: () => [{ host: 'slurm-login', sharedDir: cluster.sharedDir, partition: 'debug', pricePerGpuHour: 0 }],
      hostSources,
      cacheDir: path.join(home, 'cache'),
      secrets: async (name) => (name === s3SecretName(s3.admin.accessKeyId) ? s3.admin.secretAccessKey : undefined), env: {},
    });
    try {
      await fs.mkdir(path.join(s3.storageDir, 'models'));
      const results = { kind: 's3', endpoint: s3.server.storageEndpoint, bucket: 'models', prefix: 'slurm', accessKeyId: s3.admin.accessKeyId };
      const job = newJob();
      const r = await delivering.submit(job, {
        options: { launcher: 'srun', program: 'mkdir -p {output_dir}/ckpt && echo weights > {output_dir}/lora.safetensors && echo 1 > {output_dir}/ckpt/state', resources: { cpusPerTask: 1, gpusPerNode: 0, timeLimit: '5' }, results },
      }, ctx);
      const submitted: Job = { ...job, providerJobId: r.providerJobId, status: r.status, metadata: { ...job.metadata, ...r.metadata } };
      assert.equal(submitted.metadata.localOutputDir, path.join(home, 'outputs', job.id));
      const { last } = await pollUntil(submitted, (u) => isTerminal(u.status));
      assert.equal(last.status, 'succeeded');
      const fin = await delivering.finalize({ ...submitted, status: 'succeeded' }, ctx);
      assert.equal(fin.metadata?.deliveryError, undefined, String(fin.metadata?.deliveryError));
      assert.equal(await fs.readFile(path.join(home, 'outputs', job.id, 'lora.safetensors'), 'utf8'), 'weights\n');
      const listed = await s3.client().send(new ListObjectsV2Command({ Bucket: 'models', Prefix: `slurm/${job.id}/` }));
      assert.deepEqual((listed.Contents ?? []).map((o) => o.Key).sort(), [`slurm/${job.id}/ckpt/state`, `slurm/${job.id}/lora.safetensors`]);
      const body = await (await s3.client().send(new GetObjectCommand({ Bucket: 'models', Key: `slurm/${job.id}/lora.safetensors` }))).Body!.transformToString();
      assert.equal(body, 'weights\n');
      assert.ok(fin.outputs?.some((o) => o.kind === 's3'), JSON.stringify(fin.outputs));
    } finally {
      await delivering.dispose();
      await s3.dispose();
    }
  });

  it('`cloudtrain submit --provider slurm` goes through the whole pipeline to the cluster and --follow ends with the job', async () => {
    const ws = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-slurm-cli-'));
    const dataHome = path.join(ws, '.home');
    try {
      await fs.mkdir(path.join(ws, 'data', 'images'), { recursive: true });
      await fs.writeFile(path.join(ws, 'data', 'images', 'a.txt'), 'a caption');
      await fs.mkdir(path.join(ws, 'config'));
      // SimpleTuner's layout: the training config names its dataloader config.
      await fs.writeFile(path.join(ws, 'config', 'config.json'), JSON.stringify({ '--max_train_steps': 3, '--data_backend_config': 'config/multidatabackend.json' }));
      await fs.writeFile(path.join(ws, 'config', 'multidatabackend.json'), JSON.stringify([{ id: 'pics', type: 'local', instance_data_dir: 'data/images' }]));
      // The CLI reads clusters from <data folder>/settings.json (the editor mirrors its settings there).
      await fs.mkdir(dataHome);
      await fs.writeFile(path.join(dataHome, 'settings.json'), JSON.stringify({
        'cloudTraining.slurm.clusters': [{ host: 'slurm-login', sharedDir: cluster.sharedDir, partition: 'debug', pricePerGpuHour: 0 }],
      }));
      const env = {
        CLOUD_TRAINING_SSH_HOSTS: JSON.stringify([{ name: 'slurm-login', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath }]),
        CLOUD_TRAINING_SSH_CONFIG: path.join(ws, 'no-ssh-config'), CLOUD_TRAINING_SSH_KNOWN_HOSTS: sshd.knownHostsPath, SSH_AUTH_SOCK: '',
      };
      const io = capturedIo({ env, cwd: ws, dataHome });
      const code = await submitCommand([
        '--provider', 'slurm', '--hardware', 'slurm-login', '--config', 'config/config.json',
        '--command', 'sh -c "for i in 1 2 3; do echo step \\$i/3; done; ls {dataset_dir}"', '--launcher', 'srun', '--cpus-per-task', '1', '--gpus-per-node', '0', '--time', '5', '--yes', '--json',
      ], io);
      assert.equal(code, 0, io.err());
      assert.match(io.err(), /total 1 files?, 9 B/, 'consent lists the dataset the config names');
      const job = JSON.parse(io.out()).job as Job;
      assert.equal(job.provider, 'slurm');
      assert.match(job.providerJobId ?? '', /^\d+$/);
      const follow = capturedIo({ env, cwd: ws, dataHome });
      assert.equal(await runLogs([job.id, '--follow'], follow), 0, follow.err());
      assert.match(follow.out(), /step 3\/3/);
      assert.match(follow.out(), /a\.txt/, 'the synced dataset is on the cluster');
    } finally {
      await fs.rm(ws, { recursive: true, force: true });
    }
  });

  it('cancels a running job with scancel and reports CANCELLED', async () => {
    const job = await submit({ program: 'echo started; sleep 300' });
    await pollUntil(job, (u) => u.status === 'running');
    await provider.cancel(job, ctx);
    const { last } = await pollUntil(job, (u) => isTerminal(u.status));
    assert.equal(last.status, 'cancelled');
    assert.equal(last.providerStatus, 'CANCELLED');
    assert.match(last.statusDetail ?? '', /^Cancelled/);
    await provider.cancel(job, ctx); // already gone: not an error
  });

  it('samples a running job\'s GPUs with an overlapping srun step (nvidia-smi on its node); a node without nvidia-smi says so', async () => {
    const job = await submit({ program: 'echo started; sleep 300' });
    try {
      await pollUntil(job, (u) => u.status === 'running');
      // No nvidia-smi on this node yet: not a passing failure but a reason the job shows.
      await assert.rejects(provider.sampleGpus(job, ctx), (e: Error) => e instanceof GpuSamplingUnavailable && /nvidia-smi was not found/.test(e.message));
      // The step runs with the login session's PATH (srun --export=ALL), where the test puts a fake.
      const log = path.join(home, 'nvidia-smi-calls');
      await sshd.addTool('nvidia-smi', `#!/bin/sh\necho "$SLURM_JOB_ID $SLURM_STEP_ID" >> ${log}\nprintf '0, 87, 30000, 46068, 250.5\\n1, 91, 31000, 46068, [N/A]\\n'\n`);
      const sample = parseGpuSample((await provider.sampleGpus(job, ctx)) ?? '');
      assert.deepEqual(sample?.gpus, [
        { index: 0, util: 87, memUsed: 30000, memTotal: 46068, power: 250.5 },
        { index: 1, util: 91, memUsed: 31000, memTotal: 46068 },
      ]);
      // It ran inside the job (a step of it), not on the login shell.
      const [jobId, stepId] = (await fs.readFile(log, 'utf8')).trim().split(' ');
      assert.equal(jobId, job.providerJobId);
      assert.match(stepId ?? '', /^\d+$/);
    } finally {
      await provider.cancel(job, ctx);
      await fs.rm(path.join(sshd.binDir, 'nvidia-smi'), { force: true });
    }
  });

  it('tells a cluster without srun --overlap, or one refusing the step, from a job that just ended', () => {
    assert.match(gpuStepRefusal('srun: unrecognized option \'--overlap\'\nTry "srun --help" for more information', 1) ?? '', /no --overlap/);
    assert.match(gpuStepRefusal('srun: error: Unable to create step for job 12: Access/permission denied', 1) ?? '', /refused a monitoring step: srun: error: Unable to create step for job 12: Access\/permission denied/);
    assert.equal(gpuStepRefusal('srun: error: Unable to create step for job 12: Job/step already completing or completed', 1), undefined);
    assert.equal(gpuStepRefusal('', 124), undefined);
  });

  it('a cancelled job resumes from the checkpoint it left: same output folder, {resume} and CLOUD_TRAINING_RESUME filled in', async () => {
    // A trainer on the shared file system: a checkpoint per step; with --resume_from_checkpoint=latest
    // it continues after the newest one.
    const trainer = path.join(cluster.sharedDir, 'fake-train.sh');
    await fs.writeFile(trainer, [
      'out=$1; start=1',
      'if [ "$2" = "--resume_from_checkpoint=latest" ]; then',
      '  last=$(ls "$out" | sed -n "s/^checkpoint-//p" | sort -n | tail -n 1); echo "resuming from checkpoint-$last (CLOUD_TRAINING_RESUME=$CLOUD_TRAINING_RESUME)"; start=$((last + 1))',
      'fi',
      'i=$start; while [ $i -le 400 ]; do mkdir -p "$out/checkpoint-$i"; echo "step $i/400"; sleep 0.1; i=$((i + 1)); done',
      '',
    ].join('\n'));
    const command = `sh ${trainer} {output_dir}{resume}`;
    const options = { launcher: 'srun' as const, resources: { cpusPerTask: 1, gpusPerNode: 0, timeLimit: '5' } };
    const first = await submit(options, { command });
    const meta = first.metadata as { remoteOutputDir: string };
    await pollUntil(first, (u) => u.status === 'running');
    for (const until = Date.now() + 20_000; (await fs.readdir(meta.remoteOutputDir)).length < 5;) {
      if (Date.now() > until) throw new Error('no checkpoints');
      await new Promise((r) => setTimeout(r, 100));
    }
    await provider.cancel(first, ctx);
    await pollUntil(first, (u) => isTerminal(u.status));
    const last = Math.max(...(await fs.readdir(meta.remoteOutputDir)).map((n) => Number(n.replace('checkpoint-', ''))));

    // What the editor's Resubmit and `cloudtrain resubmit` build from the history entry.
    const input = resubmitInput({ ...first, status: 'cancelled', submission: { command, options } });
    assert.equal(input.resumes, true);
    const job = { ...newJob(), name: input.name! };
    const r = await provider.submit(job, { command: input.command, env: input.env, options: input.options }, ctx);
    const resumed = { ...job, providerJobId: r.providerJobId, metadata: r.metadata ?? {} } as Job;
    assert.equal((resumed.metadata as { remoteOutputDir: string }).remoteOutputDir, meta.remoteOutputDir);
    assert.equal((resumed.metadata as { resumedFrom: string }).resumedFrom, first.id);
    let log = '';
    for (const until = Date.now() + 30_000; !log.includes(`step ${last + 2}/`) && Date.now() < until;) {
      log = await tailAll(resumed, []);
      await new Promise((res) => setTimeout(res, 250));
    }
    assert.match(log, new RegExp(`resuming from checkpoint-${last} \\(CLOUD_TRAINING_RESUME=latest\\)\nstep ${last + 1}/400`));
    await provider.cancel(resumed, ctx);
    await pollUntil(resumed, (u) => isTerminal(u.status));
    // A job that succeeded is not resumed; it is submitted again as it was.
    assert.equal(resubmitInput({ ...first, status: 'succeeded', submission: { command, options } }).resumes, false);
  });

  it('keeps a job asking for more nodes than exist PENDING, with the reason shown', async () => {
    const job = await submit({ program: 'hostname', resources: { nodes: 2, partition: 'wide' } });
    // Give the scheduler (main and backfill, every second here) several passes.
    await new Promise((r) => setTimeout(r, 3000));
    const u = await provider.status(job, ctx);
    assert.equal(u.status, 'queued');
    assert.equal(u.providerStatus, 'PENDING');
    assert.match(u.statusDetail ?? '', /^Pending: (ReqNodeNotAvail|Nodes required|Resources|PartitionNodeLimit)/);
    assert.equal((await provider.fetchLogs(job, 0, ctx)).length, 0, 'no log before it starts');
    await provider.cancel(job, ctx);
    assert.equal((await pollUntil(job, (x) => isTerminal(x.status))).last.status, 'cancelled');
  });

  it('runs the generated multi-node launch line with 2 tasks on the one node (torchrun and accelerate)', async () => {
    // Stand-ins for the launchers: they print what each task was given.
    for (const tool of ['torchrun', 'accelerate']) {
      await sshd.addTool(tool, '#!/bin/sh\necho "LAUNCH task=$SLURM_PROCID gpus=$CUDA_VISIBLE_DEVICES args=$*"\n');
    }
    // --ntasks-per-node=2 on the command line overrides the script's 1: two "nodes" on one machine.
    const [torch, acc] = await Promise.all([
      submit({ launcher: 'torchrun', program: 'train.py --lr 1e-4', sbatchArgs: ['--ntasks-per-node=2'], resources: { gpusPerNode: 2 } }),
      submit({ launcher: 'accelerate', program: 'train.py', sbatchArgs: ['--ntasks-per-node=2'], resources: { gpusPerNode: 2, gpuFlag: 'gpus-per-node' } }),
    ]);
    for (const job of [torch, acc]) assert.equal((await pollUntil(job, (u) => isTerminal(u.status))).last.status, 'succeeded');

    const port = (j: Job) => 20000 + (Number(j.providerJobId) % 20000);
    const launches = async (j: Job) => (await tailAll(j, [])).split('\n').filter((l) => l.startsWith('LAUNCH')).sort();
    assert.deepEqual(await launches(torch), [0, 1].map((rank) =>
      `LAUNCH task=${rank} gpus=0,1 args=--nnodes=2 --nproc_per_node=2 --node_rank=${rank} --master_addr=${cluster.nodeName} --master_port=${port(torch)} train.py --lr 1e-4`));
    assert.deepEqual(await launches(acc), [0, 1].map((rank) =>
      `LAUNCH task=${rank} gpus=0,1 args=launch --num_machines=2 --num_processes=4 --machine_rank=${rank} --main_process_ip=${cluster.nodeName} --main_process_port=${port(acc)} --multi_gpu train.py`));
  });

  it('submits a previewed script the user edited by hand', async () => {
    const request: SubmitRequest = { command: 'echo "from the program"', options: { launcher: 'srun', resources: { cpusPerTask: 1, gpusPerNode: 0, timeLimit: '5' } } };
    const preview = provider.forHost('slurm-login').renderScript({ id: PREVIEW_JOB_ID }, request);
    assert.match(preview, /cloud-training\/jobs\/\{job-id\}\/slurm-%j\.out/);
    const edited = preview.replace(/^srun /m, 'echo "edited by hand"\nsrun ');
    const job = await submit({ launcher: 'srun', script: edited });
    assert.equal((await pollUntil(job, (u) => isTerminal(u.status))).last.status, 'succeeded');
    const meta = job.metadata as { outputPath: string; jobDir: string };
    assert.equal(meta.outputPath, `${meta.jobDir}/slurm-${job.providerJobId}.out`, 'the placeholder became the job id');
    const log = await tailAll(job, []);
    assert.match(log, /^edited by hand$/m);
    assert.match(log, /^from the program$/m);
  });

  it('reports a job Slurm no longer knows as failed once it stayed unknown past the grace (or cancelled when that was asked)', async () => {
    const ghost: Job = { ...newJob(), status: 'running', providerJobId: '987654', metadata: { clusterHost: 'slurm-login', jobDir: '/x', scriptPath: '/x/job.sbatch', outputPath: '/x/o', nodes: 1, gpusPerNode: 0, pricePerGpuHour: 0 } };
    // The first look that finds nothing is not final: a controller restart can hide a job for a while.
    const first = await provider.status(ghost, ctx);
    assert.equal(first.status, 'running');
    assert.ok(first.metadata?.slurmUnknownSince);
    const longAgo = new Date(Date.now() - 10 * 60_000).toISOString();
    const u = await provider.status({ ...ghost, metadata: { ...ghost.metadata, slurmUnknownSince: longAgo } }, ctx);
    assert.equal(u.status, 'failed');
    assert.match(u.statusDetail!, /no longer knows/);
    assert.equal((await provider.status({ ...ghost, cancelRequestedAt: new Date().toISOString() }, ctx)).status, 'cancelled');
    await provider.cancel(ghost, ctx); // scancel of an unknown id is not an error
  });

  it('reconnects after the SSH connection dropped', async () => {
    const runners: SshCommandRunner[] = [];
    const single = new SlurmProvider({
      cluster: { host: 'slurm-login', sharedDir: cluster.sharedDir, pricePerGpuHour: 0 },
      connect: async (c) => {
        const r = await connectCluster({ host: 'slurm-login', sharedDir: cluster.sharedDir, pricePerGpuHour: 0 }, hostSources(), c);
        runners.push(r);
        return r;
      },
    });
    try {
      assert.equal((await single.validateCredentials()).ok, true);
      runners[0]!.connection.destroyTransport();
      await new Promise((r) => setTimeout(r, 200));
      const again = await single.validateCredentials();
      assert.equal(again.ok, true, again.message);
      assert.equal(runners.length, 2, 'a second connection was opened');
    } finally {
      await single.dispose();
    }
  });

  it('ends a job over its time limit as TIMEOUT', async () => {
    const { last } = await pollUntil(timeoutJob, (u) => isTerminal(u.status), 120_000);
    assert.equal(last.status, 'failed');
    assert.equal(last.providerStatus, 'TIMEOUT');
    assert.match(last.statusDetail ?? '', /Time limit/);
    const meta = timeoutJob.metadata as { jobDir: string };
    const record = await fs.readFile(path.join(meta.jobDir, `exit_code.${timeoutJob.providerJobId}`), 'utf8').catch(() => undefined);
    assert.notEqual(record, '0\n', 'a job killed at its time limit never records a success');
    const log = await tailAll(timeoutJob, []);
    assert.match(log, /tick/);
    assert.match(log, /DUE TO TIME LIMIT/);
  });
});
