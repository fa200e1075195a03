#!/usr/bin/env node
// Slurm provider polling cost, on a real one-node Slurm reached through a loopback sshd.
// Run: node --import tsx benchmarks/slurm-status.mjs [--polls 20] [--log-mb 4]
// Needs the apt packages slurm-wlm, munge, openssh-server and openssh-client.
//
// Measured in one run, same cluster, same server:
//   status poll   ours: provider.status() of a running job over the kept SSH connection (one squeue)
//                 baseline: `ssh host squeue …` with the OpenSSH client, a new connection per poll
//                 (what shelling out per poll costs)
//   log tailing   ours: fetchLogs(offset) after each append (only new bytes cross the wire)
//                 baseline: `cat` of the whole output file after each append (re-reading the log,
//                 as a "diff the full log text" provider does)
// Targets: ours ≤ 0.5 × baseline for both.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startSlurmCluster } from '../test/support/slurm-cluster.ts';
import { startSshd } from '../test/support/sshd.ts';
import { createSlurmProvider } from '../src/providers/slurm/factory.ts';
import { JobSchema } from '../src/core/jobs/schema.ts';

const run = promisify(execFile);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const POLLS = arg('polls', 20);
const LOG_MB = arg('log-mb', 4);
const APPENDS = 16;

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cluster = await startSlurmCluster();
const sshd = await startSshd({ env: cluster.env });
const home = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-bench-slurm-'));
const provider = createSlurmProvider({
  clusters: () => [{ host: 'bench', sharedDir: cluster.sharedDir, pricePerGpuHour: 0 }],
  hostSources: () => ({
    configFile: path.join(home, 'none'), home, agent: false, knownHostsFiles: [sshd.knownHostsPath],
    settingsHosts: [{ name: 'bench', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.userKeyPath }],
  }),
  cacheDir: path.join(home, 'cache'),
});
const ctx = { dataHome: home };
try {
  const now = new Date().toISOString();
  const job = JobSchema.parse({ id: 'bench-1', name: 'bench', provider: 'slurm', status: 'uploading', createdAt: now, updatedAt: now });
  const r = await provider.submit(job, { command: 'sleep 600', options: { launcher: 'srun', resources: { cpusPerTask: 1, gpusPerNode: 0, timeLimit: '15' } } }, ctx);
  const submitted = { ...job, providerJobId: r.providerJobId, metadata: r.metadata };
  for (let i = 0; i < 100 && (await provider.status(submitted, ctx)).status !== 'running'; i++) await new Promise((res) => setTimeout(res, 200));

  // --- status polls
  const ours = [];
  for (let i = 0; i < POLLS; i++) {
    const t0 = process.hrtime.bigint();
    const u = await provider.status(submitted, ctx);
    ours.push(ms(t0));
    if (u.status !== 'running') throw new Error(`job not running: ${JSON.stringify(u)}`);
  }
  const base = [];
  for (let i = 0; i < POLLS; i++) {
    const t0 = process.hrtime.bigint();
    await run('ssh', [...sshd.sshArgs(), `${sshd.user}@${sshd.host}`, `squeue -h -t all -j ${r.providerJobId} -o '%i|%T|%S|%e|%M|%D|%N|%r'`]);
    base.push(ms(t0));
  }

  // --- log tailing: the job's output file grows by LOG_MB in APPENDS steps; poll after each
  const logFile = r.metadata.outputPath;
  const chunk = Math.floor((LOG_MB * 1024 * 1024) / APPENDS);
  let offset = (await fs.stat(logFile)).size;
  let oursBytes = 0;
  let baseBytes = 0;
  let oursMs = 0;
  let baseMs = 0;
  for (let i = 0; i < APPENDS; i++) {
    await fs.appendFile(logFile, `${randomBytes(chunk / 2).toString('hex')}\n`);
    let t0 = process.hrtime.bigint();
    const got = await provider.fetchLogs(submitted, offset, ctx);
    oursMs += ms(t0);
    offset += got.length;
    oursBytes += got.length;
    t0 = process.hrtime.bigint();
    const whole = await run('ssh', [...sshd.sshArgs(), `${sshd.user}@${sshd.host}`, `cat '${logFile}'`], { maxBuffer: 1 << 30, encoding: 'buffer' });
    baseMs += ms(t0);
    baseBytes += whole.stdout.length;
  }
  if (offset !== (await fs.stat(logFile)).size) throw new Error('tail lost bytes');
  await provider.cancel(submitted, ctx);

  const mb = (b) => (b / 1024 / 1024).toFixed(1);
  console.log(`status poll of a running job (${POLLS} polls, median):`);
  console.log(`  ours (kept SSH connection, squeue):     ${median(ours).toFixed(1)} ms`);
  console.log(`  baseline (ssh per poll, squeue):         ${median(base).toFixed(1)} ms   ratio ${(median(ours) / median(base)).toFixed(2)}`);
  console.log(`log tailing, ${LOG_MB} MB in ${APPENDS} appends, one poll after each:`);
  console.log(`  ours (fetchLogs by offset):  ${mb(oursBytes)} MB read, ${oursMs.toFixed(0)} ms`);
  console.log(`  baseline (cat whole log):    ${mb(baseBytes)} MB read, ${baseMs.toFixed(0)} ms   ratio ${(oursMs / baseMs).toFixed(2)}`);
} finally {
  await provider.dispose();
  await sshd.stop();
  await cluster.stop();
  await fs.rm(home, { recursive: true, force: true });
}
