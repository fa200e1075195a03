import os from 'node:os';
import path from 'node:path';

/**
 * Where job history, log mirrors and local job folders live. The extension and the CLI use the same
 * folder so they see the same jobs: `CLOUD_TRAINING_HOME`, else `~/.cloud-training`.
 * (The extension's `cloudTraining.dataDirectory` setting overrides it and is exported to its terminals.)
 */
export function defaultDataHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.CLOUD_TRAINING_HOME?.trim();
  if (fromEnv) return path.resolve(expandHome(fromEnv));
  return path.join(os.homedir(), '.cloud-training');
}

export function expandHome(p: string): string {
  return p === '~' ? os.homedir() : p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}

export interface DataLayout {
  home: string;
  /** Folder holding jobs.json */
  historyDir: string;
  /** logs/<jobId>.log — local mirrors of every job's log */
  logsDir: string;
  /** jobs/<jobId>/ — working folders of local jobs (pid, exit code, outputs) */
  jobsDir: string;
  /** cache/ — packaging cache, content-addressed packages */
  cacheDir: string;
}

export function dataLayout(home: string = defaultDataHome()): DataLayout {
  return {
    home,
    historyDir: home,
    logsDir: path.join(home, 'logs'),
    jobsDir: path.join(home, 'jobs'),
    cacheDir: path.join(home, 'cache'),
  };
}
