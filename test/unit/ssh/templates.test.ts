import assert from 'node:assert/strict';
import { buildCommand, simpleTunerConfig, TEMPLATES } from '../../../src/providers/ssh/templates';
import { parseGpuCheck } from '../../../src/providers/ssh/gpu';
import { parseDigestOutput } from '../../../src/providers/ssh/sync';
import { SshSubmitOptionsSchema } from '../../../src/providers/ssh/options';
import { resumeRequestFromJob } from '../../../src/providers/ssh/provider';
import { JobSchema } from '../../../src/core/jobs/schema';

describe('ssh templates, options and parsers', () => {
  const values = { config: '/h/run/config.json', dataloader: '/h/run/dataloader.json', output_dir: '/h/my jobs/out', job_dir: '/h/j', job_id: 'j1', script: 'train.py' };

  it('fills host paths shell-quoted and adds the resume arguments only when resuming', () => {
    // SimpleTuner takes the dataloader, output folder and resume point from the uploaded config (below).
    const st = buildCommand('simpletuner', values, { resume: false });
    assert.equal(st, 'CONFIG_BACKEND=json CONFIG_PATH=/h/run/config.json simpletuner train --env=/h/run/config.json');
    assert.equal(buildCommand('simpletuner', values, { resume: true }), st);
    assert.match(buildCommand('accelerate', values, { resume: true }), /--resume_from_checkpoint "\$\(ls -d '\/h\/my jobs\/out'\/checkpoint-\*/);
    assert.match(buildCommand('axolotl', values, { resume: true }), /--auto_resume_from_checkpoints=True$/);
    assert.equal(buildCommand('custom', values, { custom: 'python3 t.py --out {output_dir}{resume}', resume: true }), "python3 t.py --out '/h/my jobs/out' --resume_from_checkpoint=latest");
    assert.throws(() => buildCommand('custom', values, { resume: false }), /needs a command/);
    assert.throws(() => buildCommand('custom', { ...values, config: undefined }, { custom: 'x {config}', resume: false }), /no config/);
    assert.equal(buildCommand('custom', values, { custom: 'echo {unknown_token}', resume: false }), 'echo {unknown_token}');
    assert.deepEqual(Object.keys(TEMPLATES), ['simpletuner', 'accelerate', 'axolotl', 'custom']);
  });

  it('writes the host paths and the resume point into a SimpleTuner config, keeping each key\'s spelling', () => {
    const user = JSON.stringify({ '--model_family': 'flux', output_dir: 'output/models', '--resume_from_checkpoint': 'checkpoint-100', '--data_backend_config': 'config/multidatabackend.json' });
    const fresh = JSON.parse(simpleTunerConfig(user, 'config.json', { dataloader: '/h/run/dataloader.json', outputDir: '/h/out', resume: false }));
    assert.deepEqual(fresh, { '--model_family': 'flux', output_dir: '/h/out', '--resume_from_checkpoint': 'checkpoint-100', '--data_backend_config': '/h/run/dataloader.json' });
    const resumed = JSON.parse(simpleTunerConfig('{"--lora_rank": 16}', 'config.json', { outputDir: '/h/out', resume: true }));
    assert.deepEqual(resumed, { '--lora_rank': 16, '--output_dir': '/h/out', '--resume_from_checkpoint': 'latest' });
    assert.throws(() => simpleTunerConfig('model_family = "flux"', 'config/config.toml', { outputDir: '/o', resume: false }), /config\/config\.toml is not valid JSON .*custom template for TOML/);
    assert.throws(() => simpleTunerConfig('[1, 2]', 'config.json', { outputDir: '/o', resume: false }), /config\.json must be a JSON object of SimpleTuner options/);
  });

  it('validates provider options with defaults', () => {
    const o = SshSubmitOptionsSchema.parse({ host: 'gpu' });
    assert.equal(o.remoteBaseDir, '~/cloud-training');
    assert.equal(o.keepJobFolder, true);
    assert.equal(o.template, 'custom');
    assert.throws(() => SshSubmitOptionsSchema.parse({ host: 'gpu', env: { 'bad-name': 'x' } }));
    assert.throws(() => SshSubmitOptionsSchema.parse({ host: 'gpu', datasets: [{ id: '../escape', path: 'x' }] }));
  });

  it('parses nvidia-smi CSV (several GPUs, processes) and warns without GPUs', () => {
    const r = parseGpuCheck('0, NVIDIA A100-SXM4-80GB, GPU-a, 81920, 100, 0\n1, NVIDIA A100-SXM4-80GB, GPU-b, 81920, 40000, 97\n--- apps\nGPU-b, 1234, python, 39000\n');
    assert.equal(r.gpus.length, 2);
    assert.equal(r.gpus[1]?.memoryUsedMiB, 40000);
    assert.equal(r.gpus[1]?.utilizationPercent, 97);
    assert.deepEqual(r.processes, [{ gpuUuid: 'GPU-b', pid: 1234, name: 'python', usedMemoryMiB: 39000 }]);
    assert.match(parseGpuCheck('NO_NVIDIA_SMI\n').warning!, /not found/);
    assert.match(parseGpuCheck('NVIDIA_SMI_FAILED\n--- apps\n', 'NVIDIA-SMI has failed').warning!, /failed/);
    assert.match(parseGpuCheck('\n--- apps\n').warning!, /no GPUs/);
  });

  it('parses openssl and sha256sum verifier output', () => {
    const h = 'a'.repeat(64);
    assert.deepEqual([...parseDigestOutput(`openssl\n${h} *./dir/x y.png\n`)], [['dir/x y.png', h]]);
    assert.deepEqual([...parseDigestOutput(`sha256sum\n${h}  ./we\\ird\nname\0`)], [['we\\ird\nname', h]]);
  });
});

describe('ssh resume request', () => {
  it('rebuilds the request from history and points it at the old job folder', () => {
    const job = JobSchema.parse({
      id: 'j1', name: 'j1', provider: 'ssh', status: 'failed', createdAt: 'x', updatedAt: 'x', hardware: 'gpu-box',
      configPaths: { training: '/ws/config.json', dataloader: '/ws/multidatabackend.json' },
      submission: { hardware: 'gpu-box', command: 'python3 t.py{resume}', options: { template: 'custom', keepJobFolder: true } },
      metadata: { host: 'gpu-box', workspaceDir: '/h/ws', jobRoot: '/h/ws/jobs/j1', runDir: '/h/ws/jobs/j1/runs/j1', remoteOutputDir: '/h/ws/jobs/j1/output', pgid: 7, template: 'custom', command: 'python3 t.py' },
    });
    const r = resumeRequestFromJob(job);
    assert.equal(r.command, 'python3 t.py{resume}');
    assert.equal(r.trainingConfigPath, '/ws/config.json');
    assert.deepEqual(r.options?.resumeFrom, { jobRoot: '/h/ws/jobs/j1', jobId: 'j1' });
    assert.equal(r.options?.host, 'gpu-box');
    assert.equal(SshSubmitOptionsSchema.parse(r.options).resumeFrom?.jobRoot, '/h/ws/jobs/j1');
  });
});
