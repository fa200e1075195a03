import assert from 'node:assert/strict';
import { submitCommand } from '../../../src/cli/commands/submit';
import { main } from '../../../src/cli/main';
import { UsageError } from '../../../src/cli/io';
import { parseLauncherFlag, parseSlurmFlags } from '../../../src/cli/slurm-flags';
import type { Job } from '../../../src/core/jobs/schema';
import { SlurmProvider, SlurmSubmitOptionsSchema } from '../../../src/providers/slurm/provider';
import type { ProviderContext, SubmitRequest, SubmitResult, TrainingProvider } from '../../../src/core/providers/types';
import { capturedIo } from '../../support/captured-io';
import { harness, type Harness } from '../submit/fixtures';

/** Stands in for the registry's Slurm provider: renders the real sbatch script for what the CLI asked, submits nothing. */
class ScriptCapturingSlurm implements TrainingProvider {
  readonly id = 'slurm' as const;
  readonly displayName = 'Slurm (test)';
  readonly capabilities = { costTracking: true, liveLogs: true, cancel: true, resume: false, webhooks: false, listRemote: false, uploadsData: false };
  requests: SubmitRequest[] = [];
  scripts: string[] = [];
  private readonly real = new SlurmProvider({
    cluster: { host: 'login.test', partition: 'batch', sharedDir: '/shared', pricePerGpuHour: 0 },
    connect: async () => { throw new Error('no cluster in this test'); },
  });
  async validateCredentials() { return { ok: true, message: 'ok' }; }
  async listHardware() { return []; }
  async submit(job: Job, request: SubmitRequest, _ctx: ProviderContext): Promise<SubmitResult> {
    this.requests.push(request);
    this.scripts.push(this.real.renderScript(job, request));
    return { providerJobId: '4242', status: 'queued', providerStatus: 'PENDING' };
  }
  async status() { return { status: 'queued' as const }; }
  async fetchLogs() { return null; }
  async cancel() {}
}

describe('cli: Slurm resource flags', () => {
  it('parses each flag into options.resources (only the fields given)', () => {
    assert.equal(parseSlurmFlags({}, 'slurm'), undefined);
    assert.deepEqual(parseSlurmFlags({ partition: 'gpu', nodes: '2', 'gpus-per-node': '4', 'cpus-per-task': '16', mem: '128G', time: '1-12:00:00' }, 'slurm'), {
      partition: 'gpu', nodes: 2, gpusPerNode: 4, cpusPerTask: 16, memory: '128G', timeLimit: '1-12:00:00',
    });
    assert.deepEqual(parseSlurmFlags({ 'gpus-per-node': '0', time: '90' }, 'slurm'), { gpusPerNode: 0, timeLimit: '90' });
    assert.deepEqual(parseSlurmFlags({ mem: '0' }, 'slurm'), { memory: '0' });
  });

  it('--launcher picks how the command starts on each node; only for Slurm, only known launchers', () => {
    assert.equal(parseLauncherFlag(undefined, 'slurm'), undefined);
    assert.equal(parseLauncherFlag('srun', 'slurm'), 'srun');
    assert.equal(parseLauncherFlag(' torchrun ', 'slurm'), 'torchrun');
    assert.throws(() => parseLauncherFlag('mpirun', 'slurm'), (e: Error) => e instanceof UsageError && /^--launcher: "mpirun" is not one of torchrun, accelerate, srun \(e\.g\. --launcher srun\)$/.test(e.message));
    assert.throws(() => parseLauncherFlag('srun', 'ssh'), (e: Error) => e instanceof UsageError && /only applies to --provider slurm/.test(e.message));
  });

  it('refuses bad values naming the flag, the problem and an example', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ nodes: '0' }, /^--nodes: "0" is not valid: must be at least 1 \(e\.g\. --nodes 2\)$/],
      [{ nodes: 'two' }, /^--nodes: "two" is not a whole number \(e\.g\. --nodes 2\)$/],
      [{ nodes: '1.5' }, /^--nodes: "1\.5" is not a whole number/],
      [{ 'gpus-per-node': '-1' }, /^--gpus-per-node: "-1" is not a whole number \(e\.g\. --gpus-per-node 4\)$/],
      [{ 'gpus-per-node': '65' }, /^--gpus-per-node: "65" is not valid: must be at most 64 \(e\.g\. --gpus-per-node 4\)$/],
      [{ 'cpus-per-task': '0' }, /^--cpus-per-task: "0" is not valid: must be at least 1 \(e\.g\. --cpus-per-task 16\)$/],
      [{ mem: '64 GB' }, /^--mem: "64 GB" is not valid: e\.g\. 64G, 512M or 0 for all of the node \(e\.g\. --mem 64G\)$/],
      [{ time: 'soon' }, /^--time: "soon" is not valid: minutes, HH:MM:SS or D-HH:MM:SS \(e\.g\. --time 08:00:00\)$/],
      [{ partition: 'gpu;rm -rf /' }, /^--partition: "gpu;rm -rf \/" is not valid: letters, digits and _ \. : \+ - only \(e\.g\. --partition gpu\)$/],
      [{ partition: '' }, /^--partition: is empty \(e\.g\. --partition gpu\)$/],
    ];
    for (const [flags, re] of cases) {
      assert.throws(() => parseSlurmFlags(flags, 'slurm'), (e: Error) => e instanceof UsageError && re.test(e.message), JSON.stringify(flags));
    }
    assert.throws(() => parseSlurmFlags({ nodes: '2' }, 'local'), (e: Error) => e instanceof UsageError && /^--nodes only applies to --provider slurm/.test(e.message));
  });

  describe('through cloudtrain submit', () => {
    let h: Harness;
    let slurm: ScriptCapturingSlurm;
    beforeEach(() => {
      h = harness();
      slurm = new ScriptCapturingSlurm();
      h.providers.register('slurm', () => slurm);
    });
    afterEach(() => h.dispose());
    const io = () => capturedIo({ env: { PATH: process.env.PATH }, cwd: h.ws.workspace, dataHome: h.layout.home });

    it('the generated sbatch script has the #SBATCH lines the flags asked for', async () => {
      const out = io();
      const code = await submitCommand(['--provider', 'slurm', '--config', h.ws.config, '--command', 'train.py --config {config}', '--yes',
        '--partition', 'gpu', '--nodes', '2', '--gpus-per-node', '4', '--cpus-per-task', '16', '--mem', '128G', '--time', '12:00:00'], out, { providers: h.providers });
      assert.equal(code, 0, out.err());
      assert.equal(slurm.requests.length, 1);
      assert.deepEqual(SlurmSubmitOptionsSchema.parse(slurm.requests[0]!.options).resources, {
        jobName: 'cloud-training', partition: 'gpu', nodes: 2, gpusPerNode: 4, gpuFlag: 'gres', cpusPerTask: 16, memory: '128G', timeLimit: '12:00:00', extraDirectives: [],
      });
      const sbatch = slurm.scripts[0]!.split('\n').filter((l) => l.startsWith('#SBATCH '));
      for (const line of ['#SBATCH --partition=gpu', '#SBATCH --nodes=2', '#SBATCH --gres=gpu:4', '#SBATCH --cpus-per-task=16', '#SBATCH --mem=128G', '#SBATCH --time=12:00:00']) {
        assert.ok(sbatch.includes(line), `${line} in\n${sbatch.join('\n')}`);
      }
      assert.equal(sbatch.filter((l) => l.startsWith('#SBATCH --partition=')).length, 1, 'the flag replaces the cluster\'s default partition');
      assert.match(slurm.scripts[0]!, /--num_processes="\$\(\(SLURM_NTASKS \* 4\)\)"/);
    });

    it('without flags the job gets the defaults (and the cluster\'s partition)', async () => {
      const out = io();
      assert.equal(await submitCommand(['--provider', 'slurm', '--config', h.ws.config, '--command', 'train.py', '--yes'], out, { providers: h.providers }), 0, out.err());
      assert.equal(slurm.requests[0]!.options?.resources, undefined);
      const sbatch = slurm.scripts[0]!.split('\n').filter((l) => l.startsWith('#SBATCH '));
      assert.deepEqual(sbatch.slice(0, 7), ['#SBATCH --job-name=cloud-training', '#SBATCH --partition=batch', '#SBATCH --nodes=1', '#SBATCH --ntasks-per-node=1', '#SBATCH --cpus-per-task=8', '#SBATCH --gres=gpu:1', '#SBATCH --time=04:00:00']);
    });

    it('bad values exit 2 with a one-line reason and submit nothing', async () => {
      for (const [args, re] of [
        [['--nodes', '0'], /--nodes: "0" is not valid: must be at least 1 \(e\.g\. --nodes 2\)/],
        [['--time', 'tomorrow'], /--time: "tomorrow" is not valid/],
        [['--mem', '12X'], /--mem: "12X" is not valid/],
      ] as Array<[string[], RegExp]>) {
        const out = io();
        assert.equal(await main(['submit', '--provider', 'slurm', '--command', 'train.py', '--yes', ...args], out), 2);
        assert.match(out.err(), re);
        assert.equal(out.err().trim().split('\n').length, 1, out.err());
      }
      const local = io();
      assert.equal(await main(['submit', '--provider', 'local', '--command', 'true', '--partition', 'gpu'], local), 2);
      assert.match(local.err(), /--partition only applies to --provider slurm/);
      assert.deepEqual(await h.history.list(), []);
      assert.equal(slurm.requests.length, 0);
    });

    it('--help documents the flags', async () => {
      const out = io();
      assert.equal(await main(['submit', '--help'], out), 0);
      for (const flag of ['--partition P', '--nodes N', '--gpus-per-node N', '--cpus-per-task N', '--mem M', '--time T', '--snapshot', '--no-snapshot']) assert.ok(out.out().includes(flag), flag);
    });
  });
});
