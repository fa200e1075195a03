import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobSchema, type Job } from '../../../src/core/jobs/schema';
import { SshProvider, resumeRequestFor } from '../../../src/providers/ssh/provider';
import { checkGpus } from '../../../src/providers/ssh/gpu';
import type { ProviderContext, SubmitRequest } from '../../../src/core/providers/types';
import { startSshd, type SshdFixture } from '../../support/sshd';
import type { HostSources } from '../../../src/providers/ssh/hosts';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { s3SecretName } from '../../../src/core/destinations/schema';
import { JobHistory } from '../../../src/core/jobs/history';
import { JobMonitor } from '../../../src/core/jobs/monitor';
import { dataLayout } from '../../../src/core/paths';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import { startTestServer } from '../server/helpers';

/**
 * End to end through a real sshd on 127.0.0.1. The CI machine has no GPU: a fake `nvidia-smi` is put
 * on the PATH of the test sshd's sessions (the fixture's binDir, via sshd's SetEnv) and prints an H100.
 */
const FAKE_NVIDIA_SMI = `#!/bin/sh
case "$*" in
  *--query-gpu*) echo "0, NVIDIA H100 80GB HBM3, GPU-0000-test, 81559, 1024, 3" ;;
  *--query-compute-apps*) echo "GPU-0000-test, 4242, python3, 1000" ;;
esac
`;

/** A tiny trainer: one "step i/N" line per tick, a checkpoint folder per step, resumes from the newest. */
/**
 * Stands in for SimpleTuner's `simpletuner` CLI (there is no GPU or torch here), holding to the
 * contract of its source: `simpletuner train` parses its options strictly (an unknown `--flag`
 * is an error), `--env=<file>` with CONFIG_BACKEND=json uses CONFIG_PATH, and the training
 * options then come from that JSON file alone. It prints what the trainer would use.
 */
const FAKE_SIMPLETUNER = `#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
if not args or args[0] != "train":
    sys.exit("usage: simpletuner train [--env ENV | --example NAME] [key=value ...]")
for a in args[1:]:
    if a.startswith("--") and not a.startswith("--env=") and not a.startswith("--example="):
        sys.exit("simpletuner: error: unrecognized arguments: " + a)
if os.environ.get("CONFIG_BACKEND") != "json" or not any(a.startswith("--env=") for a in args):
    sys.exit("Error: No config file found in current directory or config/ subdirectory.")
with open(os.environ["CONFIG_PATH"]) as f:
    config = {k.lstrip("-"): v for k, v in json.load(f).items()}
for key in ("data_backend_config", "output_dir", "resume_from_checkpoint", "max_train_steps"):
    print("%s=%s" % (key, config.get(key)))
with open(config["data_backend_config"]) as f:
    print("datasets=" + ",".join(d.get("instance_data_dir", "-") for d in json.load(f)))
`;

const TRAIN_SH = `#!/bin/sh
OUT=$1; TOTAL=$2; shift 2
start=1
for a in "$@"; do
  if [ "$a" = "--resume_from_checkpoint=latest" ]; then
    last=$(ls "$OUT" | sed -n 's/^checkpoint-//p' | sort -n | tail -n 1)
    [ -n "$last" ] && start=$((last + 1))
    echo "resuming from checkpoint-$last"
  fi
done
sleep 300 &          # a worker child in the same process group
worker=$!
i=$start
while [ $i -le $TOTAL ]; do
  echo "step $i/$TOTAL loss=0.5"
  mkdir -p "$OUT/checkpoint-$i" && echo $i > "$OUT/checkpoint-$i/state"
  i=$((i + 1))
  sleep 0.05
done
echo weights > "$OUT/model.safetensors"
kill $worker
echo finished
`;

describe('ssh provider (real sshd)', function () {
  this.timeout(90_000);
  let sshd: SshdFixture;
  let tmp: string;
  let workspace: string;
  let provider: SshProvider;
  const logs: string[] = [];
  /** Process groups started on the (local) test host, killed in after() if a test failed half-way. */
  const started: number[] = [];
  const ctx = (): ProviderContext => ({ dataHome: path.join(tmp, 'data'), log: (l) => logs.push(l) });

  before(async () => {
    sshd = await startSshd();
    await sshd.addTool('nvidia-smi', FAKE_NVIDIA_SMI);
    await sshd.addTool('simpletuner', FAKE_SIMPLETUNER);
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-sshprov-'));
    workspace = path.join(tmp, 'my workspace');
    await fs.mkdir(path.join(workspace, 'project'), { recursive: true });
    await fs.mkdir(path.join(workspace, 'data', 'cats'), { recursive: true });
    await fs.writeFile(path.join(workspace, 'project', 'train.sh'), TRAIN_SH);
    for (let i = 0; i < 5; i++) await fs.writeFile(path.join(workspace, 'data', 'cats', `cat${i}.txt`), `a cat ${i}`);
    await fs.writeFile(path.join(workspace, 'config.json'), JSON.stringify({ '--max_train_steps': 40 }));
    await fs.writeFile(path.join(workspace, 'multidatabackend.json'), JSON.stringify([
      { id: 'cats', type: 'local', instance_data_dir: 'data/cats', cache_dir_vae: 'cache/vae' },
      { id: 'embeds', dataset_type: 'text_embeds', type: 'local', cache_dir: 'cache/text' },
    ]));
    provider = new SshProvider({ cacheDir: path.join(tmp, 'cache'), killGraceSeconds: 2, hostSources });
  });
  const hostSources = (): HostSources => ({
    settingsHosts: [{ name: 'gpu-box', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath }],
    configFile: path.join(tmp, 'no-ssh-config'),
    home: tmp,
    knownHostsFiles: [sshd.knownHostsPath],
    agent: false,
  });
  after(async () => {
    for (const pgid of started) {
      // Only a group whose leader is still our wrapper (a pid may have been reused by then).
      const cmdline = await fs.readFile(`/proc/${pgid}/cmdline`, 'utf8').catch(() => '');
      if (!sshd || !cmdline.includes(sshd.dir)) continue;
      try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
    }
    await provider?.dispose();
    await sshd?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  const newJob = (id: string, over: Partial<Job> = {}): Job => JobSchema.parse({
    id, name: id, provider: 'ssh', status: 'uploading', workspace, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), ...over,
  });
  const request = (total: number, over: Record<string, unknown> = {}): SubmitRequest => ({
    command: `sh {code_dir}/train.sh {output_dir} ${total}{resume}`,
    trainingConfigPath: path.join(workspace, 'config.json'),
    dataloaderConfigPath: path.join(workspace, 'multidatabackend.json'),
    options: { host: 'gpu-box', remoteBaseDir: path.join(sshd.remoteDir, 'base'), codeDir: 'project', template: 'custom', outputDir: path.join(tmp, 'outputs'), ...over },
  });
  const withMeta = (job: Job, r: { metadata?: Record<string, unknown>; providerJobId: string }): Job => {
    started.push((r.metadata as { pgid: number }).pgid);
    return { ...job, status: 'running', providerJobId: r.providerJobId, metadata: r.metadata ?? {} };
  };

  async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('lists the settings host and parses the (fake) nvidia-smi check', async () => {
    const hw = await provider.listHardware();
    assert.deepEqual(hw.map((h) => h.id), ['gpu-box']);
    const conn = await provider.connection('gpu-box');
    const r = await checkGpus(conn);
    assert.equal(r.gpus[0]?.name, 'NVIDIA H100 80GB HBM3');
    assert.equal(r.gpus[0]?.memoryTotalMiB, 81559);
    assert.equal(r.processes[0]?.pid, 4242);
    assert.equal(r.warning, undefined);
    // Without nvidia-smi: a warning, not a failure.
    await fs.rename(path.join(sshd.binDir, 'nvidia-smi'), path.join(sshd.binDir, 'nvidia-smi.off'));
    try {
      const none = await checkGpus(conn);
      assert.equal(none.gpus.length, 0);
      assert.match(none.warning!, /CPU/);
    } finally {
      await fs.rename(path.join(sshd.binDir, 'nvidia-smi.off'), path.join(sshd.binDir, 'nvidia-smi'));
    }
  });

  it('runs detached, survives a dropped connection, reattaches logs with no lost or repeated lines, downloads outputs', async () => {
    let job = newJob('job-run');
    const r = await provider.submit(job, request(60), ctx());
    job = withMeta(job, r);
    const meta = job.metadata as { runDir: string; jobRoot: string; tmuxSession?: string };
    assert.ok(meta.tmuxSession, 'tmux is installed on the test host, so the run uses it');
    // The dataloader was rewritten to host paths, the dataset synced there.
    const dl = JSON.parse(await fs.readFile(path.join(meta.runDir, 'dataloader.json'), 'utf8'));
    assert.match(dl[0].instance_data_dir, /\/datasets\/cats$/);
    assert.equal(await fs.readFile(path.join(dl[0].instance_data_dir, 'cat3.txt'), 'utf8'), 'a cat 3');
    assert.ok(dl[0].cache_dir_vae.startsWith(meta.jobRoot));
    assert.ok(dl[1].cache_dir.startsWith(meta.jobRoot));
    assert.ok(logs.some((l) => l.includes('H100')), 'GPU check shown before the run');

    let mirror = Buffer.alloc(0);
    const pull = async () => {
      const chunk = await provider.fetchLogs(job, mirror.length, ctx());
      mirror = Buffer.concat([mirror, chunk]);
    };
    await waitFor('some progress', async () => { await pull(); return mirror.toString().includes('step 10/') ? true : undefined; });
    // Drop the network under the provider's feet (no clean goodbye).
    const first = await provider.connection('gpu-box');
    first.destroyTransport();
    await new Promise((res) => setTimeout(res, 300));
    await waitFor('the job to finish', async () => {
      await pull();
      const s = await provider.status(job, ctx());
      return s.status === 'succeeded' ? s : undefined;
    });
    await pull();
    assert.notEqual(await provider.connection('gpu-box'), first, 'a new connection was made after the drop');
    const lines = mirror.toString().trim().split('\n');
    const expected = [...Array.from({ length: 60 }, (_, i) => `step ${i + 1}/60 loss=0.5`), 'finished'];
    assert.deepEqual(lines, expected);

    const fin = await provider.finalize!({ ...job, status: 'succeeded' }, ctx());
    assert.equal(await fs.readFile(path.join(tmp, 'outputs', 'model.safetensors'), 'utf8'), 'weights\n');
    assert.equal(await fs.readFile(path.join(tmp, 'outputs', 'checkpoint-60', 'state'), 'utf8'), '60\n');
    assert.equal(fin.outputs?.[0]?.uri, path.join(tmp, 'outputs'));
  });

  it('cancel kills the whole process group; resume continues from the checkpoint the script wrote', async () => {
    let job = newJob('job-cancel');
    const req = request(400, { useTmux: 'never', outputDir: path.join(tmp, 'outputs-2') });
    const r = await provider.submit(job, req, ctx());
    job = withMeta(job, r);
    const meta = job.metadata as { runDir: string; pgid: number; tmuxSession?: string; remoteOutputDir: string };
    assert.equal(meta.tmuxSession, undefined);
    const conn = await provider.connection('gpu-box');
    await waitFor('checkpoints', async () => ((await fs.readdir(meta.remoteOutputDir)).length >= 8 ? true : undefined));
    const before = (await conn.run(`pgrep -g ${meta.pgid} || true`)).trim().split('\n').filter(Boolean);
    assert.ok(before.length >= 3, `wrapper, trainer and its worker are in the group: ${before}`);

    job = { ...job, cancelRequestedAt: new Date().toISOString() };
    await provider.cancel(job, ctx());
    const after = (await conn.run(`pgrep -g ${meta.pgid} || true`)).trim();
    assert.equal(after, '', 'no process of the group survives');
    const s = await provider.status(job, ctx());
    assert.equal(s.status, 'cancelled');
    await provider.cancel(job, ctx()); // already gone: not an error

    const ckpts = (await fs.readdir(meta.remoteOutputDir)).map((n) => Number(n.replace('checkpoint-', ''))).filter(Number.isFinite);
    const last = Math.max(...ckpts);
    assert.ok(last < 400);

    // Resume: same remote job folder, the template's resume argument, continues after `last`.
    let resumed = newJob('job-resume');
    const rr = await provider.submit(resumed, resumeRequestFor({ ...job, status: 'cancelled' }, req), ctx());
    resumed = withMeta(resumed, rr);
    const rmeta = resumed.metadata as { jobRoot: string; remoteOutputDir: string; resumed: boolean; pgid: number };
    assert.equal(rmeta.remoteOutputDir, meta.remoteOutputDir);
    assert.equal(rmeta.resumed, true);
    const text = await waitFor('resumed progress', async () => {
      const t = (await provider.fetchLogs(resumed, 0, ctx())).toString();
      return t.includes(`step ${last + 3}/`) ? t : undefined;
    });
    assert.match(text, new RegExp(`^resuming from checkpoint-${last}\nstep ${last + 1}/400`));
    await provider.cancel({ ...resumed, cancelRequestedAt: new Date().toISOString() }, ctx());
    assert.equal((await conn.run(`pgrep -g ${rmeta.pgid} || true`)).trim(), '');
  });

  it('SimpleTuner template: `simpletuner train` gets a config carrying the host dataloader, output folder and, on resume, latest', async () => {
    const run = async (id: string, req: SubmitRequest) => {
      let job = newJob(id);
      job = withMeta(job, await provider.submit(job, req, ctx()));
      const meta = job.metadata as { runDir: string; remoteOutputDir: string; command: string };
      const text = await waitFor('simpletuner output', async () => {
        const s = await provider.status(job, ctx());
        return s.status === 'succeeded' || s.status === 'failed' ? (await provider.fetchLogs(job, 0, ctx())).toString() : undefined;
      });
      return { job, meta, text };
    };
    const req: SubmitRequest = { ...request(1, { template: 'simpletuner', downloadOutputs: false }), command: undefined };
    const first = await run('job-st', req);
    assert.match(first.meta.command, /^CONFIG_BACKEND=json CONFIG_PATH=\S+config\.json simpletuner train --env=\S+config\.json$/);
    assert.match(first.text, new RegExp(`data_backend_config=${first.meta.runDir}/dataloader.json`));
    assert.match(first.text, new RegExp(`output_dir=${first.meta.remoteOutputDir}`));
    assert.match(first.text, /resume_from_checkpoint=None/);
    assert.match(first.text, /max_train_steps=40/, 'the user\'s own options are kept');
    assert.match(first.text, /datasets=\/\S+\/datasets\/cats/, 'the dataloader points at the synced dataset');
    // The workspace's config.json itself is untouched.
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(workspace, 'config.json'), 'utf8')), { '--max_train_steps': 40 });

    const resumed = await run('job-st-resume', resumeRequestFor({ ...first.job, status: 'failed' }, req));
    assert.match(resumed.text, /resume_from_checkpoint=latest/);
    assert.match(resumed.text, new RegExp(`output_dir=${first.meta.remoteOutputDir}`), 'resumes in the same output folder');
  });

  it('delivers the downloaded outputs of a succeeded job to its S3 destination (results: s3)', async () => {
    const s3 = await startTestServer();
    const layout = dataLayout(path.join(tmp, 'data-deliver'));
    const delivering = new SshProvider({
      cacheDir: path.join(tmp, 'cache'), killGraceSeconds: 2, hostSources,
      // SecretStorage stand-in: the key stored for the destination's access key id.
      secrets: async (name) => (name === s3SecretName(s3.admin.accessKeyId) ? s3.admin.secretAccessKey : undefined), env: {},
    });
    const providers = new ProviderRegistry();
    providers.register('ssh', () => delivering);
    const history = new JobHistory(layout.historyDir);
    const monitor = new JobMonitor(history, providers, { dataHome: layout.home, log: (l) => logs.push(l) });
    try {
      await fs.mkdir(path.join(s3.storageDir, 'models'));
      const results = { kind: 's3', endpoint: s3.server.storageEndpoint, bucket: 'models', prefix: 'ssh-runs', accessKeyId: s3.admin.accessKeyId };
      const outDir = path.join(tmp, 'outputs-deliver');
      let job = await history.add(newJob('job-deliver'));
      const r = await delivering.submit(job, request(5, { outputDir: outDir, results }), ctx());
      job = (await history.update(job.id, (j) => withMeta(j, r)))!;
      assert.equal((job.metadata.resultsDestination as { bucket: string }).bucket, 'models');
      const done = await waitFor('finalized', async () => {
        const j = (await monitor.refresh((await history.get(job.id))!))!;
        return j.metadata.finalized === true ? j : undefined;
      });
      assert.equal(done.status, 'succeeded');
      assert.equal(done.metadata.deliveryError, undefined, String(done.metadata.deliveryError));
      // Downloaded into the workspace…
      assert.equal(await fs.readFile(path.join(outDir, 'model.safetensors'), 'utf8'), 'weights\n');
      // …and delivered: list and read the bucket with the AWS SDK.
      const listed = await s3.client().send(new ListObjectsV2Command({ Bucket: 'models', Prefix: `ssh-runs/${job.id}/` }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!).sort();
      assert.deepEqual(keys, [
        ...Array.from({ length: 5 }, (_, i) => `ssh-runs/${job.id}/checkpoint-${i + 1}/state`),
        `ssh-runs/${job.id}/model.safetensors`,
      ].sort());
      const got = await s3.client().send(new GetObjectCommand({ Bucket: 'models', Key: `ssh-runs/${job.id}/checkpoint-5/state` }));
      assert.equal(await got.Body!.transformToString(), '5\n');
      assert.ok(done.outputs.some((o) => o.kind === 's3' && o.uri.endsWith(`/models/ssh-runs/${job.id}/`)), JSON.stringify(done.outputs));
      assert.ok(done.outputs.some((o) => o.kind === 'directory' && o.uri === outDir));
      assert.ok(!JSON.stringify(await history.list()).includes(s3.admin.secretAccessKey), 'no secret in the job history');
    } finally {
      monitor.dispose();
      await delivering.dispose();
      await s3.dispose();
    }
  });

  it('refuses to resume a job that succeeded', () => {
    const job = newJob('ok', { status: 'succeeded', metadata: { host: 'h', workspaceDir: '/w', jobRoot: '/w/j', runDir: '/w/j/r', remoteOutputDir: '/w/j/o', pgid: 5, template: 'custom', command: 'x' } });
    assert.throws(() => resumeRequestFor(job, {}), /failed or cancelled/);
  });
});
