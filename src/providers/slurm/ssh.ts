import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SshConnection, type ConnectOptions } from '../ssh/connection';
import { resolveSshTarget, type HostSources } from '../ssh/hosts';
import { downloadDirectory, localDatasetsOf, rewriteDataloader } from '../ssh/provider';
import { syncDirectory } from '../ssh/sync';
import { writeRemoteFile } from './commands';
import type { SlurmDownloadHook, SlurmStageHook } from './provider';
import type { SlurmCluster } from './resources';
import type { CommandRunner } from './runner';

/** A CommandRunner over a verified SSH connection to the login node. */
export interface SshCommandRunner extends CommandRunner { readonly connection: SshConnection }

export function sshRunner(connection: SshConnection): SshCommandRunner {
  return {
    connection,
    async exec(command, options = {}) {
      const r = await connection.exec(command, { signal: options.signal });
      // No exit code means the command died of a signal (or the channel closed): never "success".
      return { stdout: r.stdout, stderr: r.stderr, code: r.code ?? 255 };
    },
    isClosed: () => connection.closed,
    dispose: () => connection.dispose(),
  };
}

/** Connect to a cluster's login node as the SSH provider would (~/.ssh/config, known_hosts, agent/keys). */
export async function connectCluster(cluster: SlurmCluster, sources: HostSources, opts: ConnectOptions = {}): Promise<SshCommandRunner> {
  const target = await resolveSshTarget(cluster.host, sources);
  return sshRunner(await SshConnection.connect(target, opts));
}

function connectionOf(runner: CommandRunner): SshConnection {
  const c = (runner as Partial<SshCommandRunner>).connection;
  if (!c) throw new Error('Moving files to or from a Slurm cluster needs an SSH connection');
  return c;
}

/**
 * Data goes to the cluster exactly as to an SSH host (incremental, content-hashed sync, same exclusions),
 * but into the shared filesystem so every compute node sees it: datasets (explicit, else the local
 * datasets of the dataloader config) to `<workspace dir>/datasets/<id>`, the code folder to
 * `<workspace dir>/code`, the training config and the dataloader config (rewritten to the synced
 * copies) into the job folder.
 */
export function sshStageHook(cacheDir: string): SlurmStageHook {
  return async ({ job, request, options: o, runner, ctx, paths }) => {
    const conn = connectionOf(runner);
    const signal = ctx.signal;
    const workspace = job.workspace ?? request.cwd;
    const dataloaderFile = request.dataloaderConfigPath;
    const dataloader = dataloaderFile ? await readJson(dataloaderFile) : undefined;
    const datasets = o.datasets.length ? o.datasets : dataloader !== undefined ? localDatasetsOf(dataloader, path.dirname(dataloaderFile!), workspace) : [];
    const remoteDatasets = new Map<string, string>();
    for (const [i, d] of datasets.entries()) {
      const local = path.resolve(workspace ?? process.cwd(), d.path);
      const remote = `${paths.values.datasets_dir}/${d.id}`;
      const r = await syncDirectory(conn, local, remote, {
        cacheDir, extraExcludes: o.extraExcludes, signal, openSsh: o.systemSsh, log: ctx.log,
        report: (m, f) => ctx.report?.(`Dataset ${d.id} (${i + 1}/${datasets.length}): ${m}`, f),
      });
      ctx.log?.(`Dataset ${d.id}: ${r.uploaded.length} sent, ${r.deleted.length} removed, ${r.unchanged} unchanged, ${r.excluded.length} excluded`);
      remoteDatasets.set(local, remote);
    }
    if (o.codeDir && paths.values.code_dir) {
      const r = await syncDirectory(conn, path.resolve(workspace ?? process.cwd(), o.codeDir), paths.values.code_dir, {
        cacheDir, extraExcludes: o.extraExcludes, signal, openSsh: o.systemSsh, log: ctx.log, report: (m, f) => ctx.report?.(`Code: ${m}`, f),
      });
      ctx.log?.(`Code folder: ${r.uploaded.length} sent, ${r.unchanged} unchanged`);
    }
    if (request.trainingConfigPath && paths.values.config) {
      await writeRemoteFile(runner, paths.values.config, await fs.readFile(request.trainingConfigPath, 'utf8'), { signal });
    }
    if (dataloader !== undefined && paths.values.dataloader) {
      const rewritten = rewriteDataloader(dataloader, path.dirname(dataloaderFile!), workspace, remoteDatasets, `${paths.jobDir}/cache`);
      await writeRemoteFile(runner, paths.values.dataloader, JSON.stringify(rewritten, null, 2), { signal });
    }
    const first = datasets[0] ? remoteDatasets.get(path.resolve(workspace ?? process.cwd(), datasets[0].path)) : undefined;
    const values: Record<string, string> = {};
    if (first) values.dataset_dir = first;
    return { values };
  };
}

/** Outputs come back over SFTP like the SSH provider's. */
export const sshDownloadHook: SlurmDownloadHook = (runner, remoteDir, localDir, ctx) =>
  downloadDirectory(connectionOf(runner), remoteDir, localDir, { signal: ctx.signal, report: ctx.report });

async function readJson(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}
