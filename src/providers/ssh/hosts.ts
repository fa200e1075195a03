import os from 'node:os';
import path from 'node:path';
import * as z from 'zod';
import { loadSshConfig, type SshConfig } from '../../core/ssh/config';
import type { SshTarget } from './connection';

/** One entry of the `cloudTraining.ssh.hosts` setting. No passwords: keys and the agent only. */
export const SettingsHostSchema = z.object({
  name: z.string().min(1),
  host: z.string().min(1),
  user: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  identityFile: z.string().min(1).optional(),
  /** Only this known_hosts file for this host (a rented machine: its own file, see lease-hosts.ts). */
  knownHostsFile: z.string().min(1).optional(),
});
export type SettingsHost = z.infer<typeof SettingsHostSchema>;
export const SettingsHostsSchema = z.array(SettingsHostSchema);

export interface HostChoice {
  name: string;
  source: 'ssh-config' | 'settings';
  /** user@host:port as it will be reached. */
  detail: string;
  where?: string;
}

export interface HostSources {
  /** Parsed ~/.ssh/config (load with loadSshConfig); omit to read it now. */
  config?: SshConfig;
  configFile?: string;
  settingsHosts?: SettingsHost[];
  home?: string;
  localUser?: string;
  /** Override known_hosts (tests); default from the config (UserKnownHostsFile) or ~/.ssh/known_hosts. */
  knownHostsFiles?: string[];
  /** Agent socket override; false disables the agent. */
  agent?: string | false;
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/**
 * Host sources for the CLI and other non-editor callers: $CLOUD_TRAINING_SSH_HOSTS (JSON, same shape
 * as the `cloudTraining.ssh.hosts` setting), $CLOUD_TRAINING_SSH_CONFIG (default ~/.ssh/config),
 * $CLOUD_TRAINING_SSH_KNOWN_HOSTS (path-list; default from the config / ~/.ssh/known_hosts).
 */
export function hostSourcesFromEnv(env: NodeJS.ProcessEnv = process.env): HostSources {
  let settingsHosts: SettingsHost[] = [];
  const raw = env.CLOUD_TRAINING_SSH_HOSTS;
  if (raw) {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new Error('CLOUD_TRAINING_SSH_HOSTS is not valid JSON');
    }
    const r = SettingsHostsSchema.safeParse(json);
    if (!r.success) throw new Error(`CLOUD_TRAINING_SSH_HOSTS is not a list of {name, host, user?, port?, identityFile?}: ${r.error.issues[0]?.message}`);
    settingsHosts = r.data;
  }
  const knownHosts = env.CLOUD_TRAINING_SSH_KNOWN_HOSTS;
  return {
    settingsHosts,
    configFile: env.CLOUD_TRAINING_SSH_CONFIG || undefined,
    knownHostsFiles: knownHosts ? knownHosts.split(path.delimiter).filter(Boolean) : undefined,
  };
}

async function configOf(src: HostSources): Promise<SshConfig> {
  return src.config ?? loadSshConfig(src.configFile, { home: src.home, localUser: src.localUser });
}

/** Hosts for a picker: settings hosts first (the user added them here), then ~/.ssh/config aliases. */
export async function listHostChoices(src: HostSources): Promise<HostChoice[]> {
  const config = await configOf(src);
  const out: HostChoice[] = [];
  const seen = new Set<string>();
  for (const h of src.settingsHosts ?? []) {
    seen.add(h.name);
    out.push({ name: h.name, source: 'settings', detail: `${h.user ? `${h.user}@` : ''}${h.host}${h.port && h.port !== 22 ? `:${h.port}` : ''}` });
  }
  for (const h of config.hosts()) {
    if (seen.has(h.alias)) continue;
    const r = config.resolve(h.alias);
    out.push({ name: h.alias, source: 'ssh-config', detail: `${r.user ? `${r.user}@` : ''}${r.hostName}${r.port !== 22 ? `:${r.port}` : ''}`, where: `${h.file}:${h.line}` });
  }
  return out;
}

/** Everything needed to connect to `name` (a settings host name, a config alias, or a plain host name). */
export async function resolveSshTarget(name: string, src: HostSources = {}): Promise<SshTarget> {
  const config = await configOf(src);
  const home = src.home ?? os.homedir();
  const localUser = src.localUser ?? os.userInfo().username;
  const build = (alias: string, override: Partial<SettingsHost> | undefined, depth: number): SshTarget => {
    const fromSettings = src.settingsHosts?.find((h) => h.name === alias);
    const s = { ...fromSettings, ...override };
    // Settings hosts still get ~/.ssh/config options for their real host name (keys, jump hosts).
    const r = config.resolve(fromSettings ? fromSettings.host : alias);
    const identityFiles = s.identityFile
      ? [expandHome(s.identityFile, home)]
      : r.identityFiles.length ? r.identityFiles : DEFAULT_KEYS.map((k) => path.join(home, '.ssh', k));
    if (depth > 8) throw new Error(`ProxyJump chain for ${name} is too long (loop?)`);
    return {
      label: alias,
      host: s.host ?? r.hostName,
      port: s.port ?? r.port,
      user: s.user ?? r.user ?? localUser,
      identityFiles,
      agent: src.agent ?? (r.identitiesOnly && r.identityFiles.length ? false : r.identityAgent),
      // Accepted keys are appended to the first (the user's); the system-wide files are only read.
      knownHostsFiles: s.knownHostsFile ? [s.knownHostsFile] : src.knownHostsFiles ?? [...r.userKnownHostsFiles, ...r.globalKnownHostsFiles],
      proxyJump: r.proxyJump.map((j) => build(j.host, { ...(j.user ? { user: j.user } : {}), ...(j.port ? { port: j.port } : {}) }, depth + 1)),
      readyTimeoutMs: r.connectTimeoutSeconds ? r.connectTimeoutSeconds * 1000 : undefined,
      keepaliveIntervalMs: r.serverAliveIntervalSeconds ? r.serverAliveIntervalSeconds * 1000 : undefined,
    };
  };
  return build(name, undefined, 0);
}

function expandHome(p: string, home: string): string {
  return p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
}
