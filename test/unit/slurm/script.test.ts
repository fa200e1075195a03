import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  RESOURCE_FIELDS, SlurmClustersSettingSchema, SlurmResourcesSchema, describeResources, editResource, formatResource, maxCostUsd, slurmClustersFromSection, timeLimitSeconds,
} from '../../../src/providers/slurm/resources';
import { generateSbatchScript, launchLine, sbatchDirectives, taskCommand } from '../../../src/providers/slurm/script';
import { expandSharedDir, fillPlaceholders, resolveOutputPath, scriptOutputPath } from '../../../src/providers/slurm/provider';
import { SlurmClustersProvider, pickTarget } from '../../../src/providers/slurm/clusters-provider';
import { loadSlurmClustersForCli } from '../../../src/providers/slurm/factory';

const field = (key: string) => RESOURCE_FIELDS.find((f) => f.key === key)!;

describe('slurm sbatch script', () => {
  const base = SlurmResourcesSchema.parse({});

  it('has defaults a first-time user can submit', () => {
    assert.deepEqual(sbatchDirectives(base), [
      '--job-name=cloud-training', '--nodes=1', '--ntasks-per-node=1', '--cpus-per-task=8', '--gres=gpu:1', '--time=04:00:00',
    ]);
  });

  it('writes every resource as an #SBATCH line, GPUs as --gres or --gpus-per-node', () => {
    const r = SlurmResourcesSchema.parse({
      jobName: 'lora-v2', partition: 'gpu', account: 'proj42', qos: 'high', nodes: 4, gpusPerNode: 8, gpuType: 'a100',
      cpusPerTask: 32, memory: '480G', timeLimit: '1-12:00:00', extraDirectives: ['--constraint=ib', '--exclusive'],
    });
    assert.deepEqual(sbatchDirectives(r), [
      '--job-name=lora-v2', '--partition=gpu', '--account=proj42', '--qos=high', '--nodes=4', '--ntasks-per-node=1',
      '--cpus-per-task=32', '--gres=gpu:a100:8', '--mem=480G', '--time=1-12:00:00', '--constraint=ib', '--exclusive',
    ]);
    assert.ok(sbatchDirectives({ ...r, gpuFlag: 'gpus-per-node' }).includes('--gpus-per-node=a100:8'));
    assert.ok(!sbatchDirectives({ ...r, gpusPerNode: 0 }).some((d) => /^--(gres|gpus)/.test(d)), 'CPU-only job asks for no GPU');
  });

  it('refuses values that would break the script', () => {
    for (const bad of [{ jobName: 'a b' }, { partition: 'gpu;rm -rf' }, { nodes: 0 }, { timeLimit: 'soon' }, { memory: '1 GB' },
      { extraDirectives: ['--x=1\n#SBATCH --y'] }, { extraDirectives: ['rm -rf /'] }]) {
      assert.equal(SlurmResourcesSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  it('builds launch lines whose rank and world size come from each task', () => {
    assert.equal(taskCommand('torchrun', 'train.py', 4, 2),
      'exec torchrun --nnodes="$SLURM_NTASKS" --nproc_per_node=4 --node_rank="$SLURM_PROCID" --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" train.py');
    assert.equal(taskCommand('accelerate', 'train.py', 1, 1),
      'exec accelerate launch --num_machines="$SLURM_NTASKS" --num_processes="$((SLURM_NTASKS * 1))" --machine_rank="$SLURM_PROCID" --main_process_ip="$MASTER_ADDR" --main_process_port="$MASTER_PORT" train.py');
    assert.match(taskCommand('accelerate', 'train.py', 8, 1), /--multi_gpu train\.py$/);
    assert.match(taskCommand('srun', 'python x.py', 1, 1), /RANK="\$SLURM_PROCID" WORLD_SIZE="\$SLURM_NTASKS".*; python x\.py$/);
    // Single quotes inside the program survive the bash -c quoting.
    const line = launchLine('srun', `echo 'it''s'`, base);
    assert.match(line, /^srun --cpus-per-task="\$SLURM_CPUS_PER_TASK" --kill-on-bad-exit=1 bash -c '/);
    const inner = execFileSync('bash', ['-c', `SLURM_PROCID=3 SLURM_NTASKS=4 SLURM_LOCALID=0; srun() { shift 2; "$@"; }; ${line}`]).toString();
    assert.equal(inner, 'its\n');
  });

  it('generates a script bash accepts, with master address from scontrol and env kept in a file', async () => {
    const script = generateSbatchScript({
      resources: SlurmResourcesSchema.parse({ partition: 'gpu', nodes: 2, gpusPerNode: 4 }),
      jobDir: '/shared/ct/jobs/j1', workDir: "/shared/my data/it's", launcher: 'accelerate', program: 'train.py --config config/config.json',
      setup: ['source ~/venv/bin/activate'], envFile: '/shared/ct/jobs/j1/job.env', envNames: ['HF_TOKEN'], jobId: 'j1',
    });
    assert.match(script, /^#!\/bin\/bash\n/);
    assert.match(script, /^#SBATCH --output=\/shared\/ct\/jobs\/j1\/slurm-%j\.out$/m);
    assert.doesNotMatch(script, /--error=/, 'stderr goes to the same log by default');
    assert.match(script, /^export MASTER_ADDR="\$\(scontrol show hostnames "\$SLURM_JOB_NODELIST" \| head -n1\)"$/m);
    assert.match(script, /^cd '\/shared\/my data\/it'\\''s'$/m);
    assert.match(script, /^# Environment: HF_TOKEN$/m);
    assert.match(script, /^source ~\/venv\/bin\/activate$/m);
    assert.ok(script.indexOf('#SBATCH --nodes=2') < script.indexOf('set -eo pipefail'), 'directives come before the first command');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-sbatch-'));
    try {
      await fs.writeFile(path.join(dir, 'job.sbatch'), script);
      execFileSync('bash', ['-n', path.join(dir, 'job.sbatch')]); // throws on a syntax error
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    assert.equal(scriptOutputPath(script), '/shared/ct/jobs/j1/slurm-%j.out');
    assert.match(generateSbatchScript({ resources: base, jobDir: '/j', workDir: '/w', launcher: 'srun', program: 'x', errorPath: '/j/err-%j' }), /^#SBATCH --error=\/j\/err-%j$/m);
  });

  it('fills {placeholders} with quoted remote paths and leaves ${VARS} alone', () => {
    const p = new SlurmClustersProvider(() => [{ host: 'h', sharedDir: '/s', pricePerGpuHour: 0 }], (cluster) => ({ cluster, connect: () => Promise.reject(new Error('x')) }));
    const paths = p.forHost('h').paths({ id: 'j1', workspace: '/home/me/my ws' }, { trainingConfigPath: '/home/me/my ws/config/config.toml', dataloaderConfigPath: '/x/d.json', options: { codeDir: 'code' } });
    assert.equal(paths.jobDir, '/s/cloud-training/jobs/j1');
    assert.match(paths.workspaceDir, /^\/s\/cloud-training\/my_ws-[0-9a-f]{8}$/);
    assert.equal(paths.values.config, '/s/cloud-training/jobs/j1/config.toml');
    assert.equal(paths.values.dataloader, '/s/cloud-training/jobs/j1/dataloader.json');
    assert.equal(paths.values.code_dir, `${paths.workspaceDir}/code`);
    assert.equal(fillPlaceholders('train.py --config {config} --out {output_dir} --home ${HOME} {unknown} {dataset_dir}', { ...paths.values, output_dir: '/o dir' }),
      `train.py --config /s/cloud-training/jobs/j1/config.toml --out '/o dir' --home \${HOME} {unknown} {dataset_dir}`);
    const script = p.forHost('h').renderScript({ id: 'j1', workspace: '/home/me/my ws' }, { command: 'train.py', options: { codeDir: 'code' } });
    assert.match(script, new RegExp(`^cd ${paths.workspaceDir}/code$`, 'm'), 'runs in the synced code folder');
  });

  it('expands sbatch filename patterns', () => {
    assert.equal(resolveOutputPath('/a/slurm-%j.out', '77', 'n', '/sub'), '/a/slurm-77.out');
    assert.equal(resolveOutputPath('%x-%j.log', '77', 'lora', '/sub/'), '/sub/lora-77.log');
    assert.equal(resolveOutputPath('/a/100%%-%A.out', '9', 'n', '/s'), '/a/100%-9.out');
  });
});

describe('slurm resources form', () => {
  const base = SlurmResourcesSchema.parse({});

  it('edits one field at a time and validates the result', () => {
    const r1 = editResource(base, field('nodes'), '4');
    assert.ok(r1.ok && r1.value.nodes === 4);
    const r2 = editResource(base, field('nodes'), 'four');
    assert.ok(!r2.ok && /whole number/.test(r2.message));
    const r3 = editResource(base, field('timeLimit'), 'tomorrow');
    assert.ok(!r3.ok && /Time limit/.test(r3.message));
    const r4 = editResource({ ...base, partition: 'gpu' }, field('partition'), '  ');
    assert.ok(r4.ok && r4.value.partition === undefined, 'empty clears an optional field');
    const r5 = editResource({ ...base, timeLimit: '1' }, field('timeLimit'), '');
    assert.ok(r5.ok && r5.value.timeLimit === '04:00:00', 'empty restores a default');
    const r6 = editResource(base, field('extraDirectives'), '--constraint=ib --exclusive');
    assert.ok(r6.ok);
    assert.deepEqual(r6.value.extraDirectives, ['--constraint=ib', '--exclusive']);
    assert.equal(formatResource(r6.value, field('extraDirectives')), '--constraint=ib --exclusive');
    assert.equal(formatResource(base, field('gpuType')), '');
  });

  it('reads time limits and describes resources', () => {
    assert.equal(timeLimitSeconds('90'), 5400);
    assert.equal(timeLimitSeconds('10:30'), 630);
    assert.equal(timeLimitSeconds('04:00:00'), 14400);
    assert.equal(timeLimitSeconds('2-03'), 183600);
    assert.equal(timeLimitSeconds('1-00:30:00'), 88200);
    assert.equal(timeLimitSeconds('UNLIMITED'), undefined);
    const big = SlurmResourcesSchema.parse({ nodes: 2, gpusPerNode: 4, timeLimit: '10:00:00' });
    assert.equal(maxCostUsd(big, 2.5), 200); // 8 GPUs × 10 h × $2.50
    assert.equal(maxCostUsd({ ...big, gpusPerNode: 0 }, 2.5), 0);
    assert.equal(describeResources(SlurmResourcesSchema.parse({ partition: 'gpu', nodes: 2, gpusPerNode: 8, gpuType: 'h100' })), 'gpu: 2 nodes × 8 h100 GPU, 04:00:00');
  });

  it('validates the clusters setting', () => {
    const ok = SlurmClustersSettingSchema.parse([{ host: 'login1', sharedDir: '/scratch/me' }]);
    assert.equal(ok[0]!.pricePerGpuHour, 0, 'own cluster costs nothing by default');
    assert.equal(SlurmClustersSettingSchema.safeParse([{ host: 'login1' }]).success, false);
    assert.equal(SlurmClustersSettingSchema.safeParse([{ host: 'x', sharedDir: '/s', pricePerGpuHour: -1 }]).success, false);
    const warnings: string[] = [];
    const fromSection = slurmClustersFromSection({ slurm: { clusters: [{ host: 'a', sharedDir: '/s' }, { host: 'b' }] } }, (m) => warnings.push(m));
    assert.deepEqual(fromSection.map((c) => c.host), ['a'], 'a broken entry does not hide the good one');
    assert.match(warnings[0]!, /clusters\[1\] ignored: sharedDir/);
    assert.deepEqual(slurmClustersFromSection({}), []);
  });
});

describe('slurm clusters', () => {
  it('expands ~, $HOME and $USER in the shared folder setting', () => {
    assert.equal(expandSharedDir('~/ct', '/home/ann', 'ann'), '/home/ann/ct');
    assert.equal(expandSharedDir('/scratch/$USER/x', '/home/ann', 'ann'), '/scratch/ann/x');
    assert.equal(expandSharedDir('${HOME}/a', '/home/ann', 'ann'), '/home/ann/a');
    assert.equal(expandSharedDir('/data/~x', '/home/ann', 'ann'), '/data/~x');
  });

  it('routes a submission to its cluster by options.host or hardware id, and says when none is set up', async () => {
    assert.deepEqual(pickTarget({ hardware: 'login2/gpu' }), { host: 'login2', partition: 'gpu' });
    assert.deepEqual(pickTarget({ hardware: 'login2', options: { host: 'login1' } }), { host: 'login1' });
    assert.deepEqual(pickTarget({}), {});
    let clusters = [{ host: 'login1', sharedDir: '/s1', pricePerGpuHour: 0 }, { host: 'login2', partition: 'gpu', sharedDir: '/s2', pricePerGpuHour: 2 }];
    const p = new SlurmClustersProvider(() => clusters, (cluster) => ({ cluster, connect: () => Promise.reject(new Error('offline')) }));
    assert.deepEqual((await p.listHardware()).map((h) => [h.id, h.pricePerHour]), [['login1', undefined], ['login2/gpu', 2]]);
    assert.equal(p.forHost('login2').paths({ id: 'j' }, {}).jobDir, '/s2/cloud-training/jobs/j');
    assert.equal(p.forHost(undefined).paths({ id: 'j' }, {}).jobDir, '/s1/cloud-training/jobs/j', 'first cluster by default');
    assert.throws(() => p.forHost('nope'), /No Slurm cluster "nope".*login1, login2/);
    const check = await p.validateCredentials();
    assert.equal(check.ok, false);
    assert.match(check.message, /Cannot reach login1: offline/);
    clusters = [];
    assert.throws(() => p.forHost(undefined), /cloudTraining\.slurm\.clusters/);
    await p.dispose();
  });

  it('reads the clusters for the CLI from the data home settings.json (dotted or nested keys)', async () => {
    const home = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-slurm-settings-'));
    try {
      assert.deepEqual(loadSlurmClustersForCli(home), [], 'no file: no clusters');
      await fs.writeFile(path.join(home, 'settings.json'), '{\n // comment\n "cloudTraining.slurm.clusters": [{"host": "hpc", "sharedDir": "/scratch/me", "pricePerGpuHour": 1.5},],\n}');
      assert.deepEqual(loadSlurmClustersForCli(home), [{ host: 'hpc', sharedDir: '/scratch/me', pricePerGpuHour: 1.5 }]);
      await fs.writeFile(path.join(home, 'settings.json'), JSON.stringify({ cloudTraining: { slurm: { clusters: [{ host: 'a', sharedDir: '/s' }, { host: 'b' }] } } }));
      const warnings: string[] = [];
      assert.deepEqual((loadSlurmClustersForCli(home, (m) => warnings.push(m))).map((c) => c.host), ['a']);
      assert.equal(warnings.length, 1);
    } finally {
      await fs.rm(home, { recursive: true, force: true });
    }
  });
});
