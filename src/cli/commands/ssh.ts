import { parseArgs } from 'node:util';
import readline from 'node:readline';
import path from 'node:path';
import { dataLayout } from '../../core/paths';
import { checkGpus, describeGpus } from '../../providers/ssh/gpu';
import { hostSourcesFromEnv, listHostChoices, type HostSources } from '../../providers/ssh/hosts';
import { SshProvider } from '../../providers/ssh/provider';
import type { Prompter } from '../../core/providers/types';
import { UsageError, type CliIO } from '../io';
import { scoped } from '../scope';

const USAGE = 'usage: cloudtrain ssh hosts [--json] | cloudtrain ssh check <host> [--json]';

/**
 * Questions on the terminal: host-key trust (y/N) and key passphrases (not echoed). Without a TTY
 * nothing can be asked, so unknown hosts are refused and encrypted keys skipped.
 */
export function ttyPrompter(io: CliIO, input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): Prompter {
  const ask = (question: string, hidden: boolean) => new Promise<string | undefined>((resolve) => {
    if (!input.isTTY) return resolve(undefined);
    const rl = readline.createInterface({ input, output: io.stderr, terminal: true });
    if (hidden) {
      // Echo nothing while the passphrase is typed.
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
        if (s.includes(question)) io.stderr.write(s);
      };
    }
    rl.question(question, (answer) => {
      rl.close();
      if (hidden) io.stderr.write('\n');
      resolve(answer);
    });
    // Raw mode swallows Ctrl-C: decline, and end the invocation as the shell's Ctrl-C would.
    rl.on('SIGINT', () => { rl.close(); resolve(undefined); io.scope?.interrupt('SIGINT'); });
  });
  return {
    async confirm(message, detail) {
      io.stderr.write(`${message}\n${detail ? `${detail}\n` : ''}`);
      const a = await ask('Continue? [y/N] ', false);
      return /^y(es)?$/i.test(a?.trim() ?? '');
    },
    secret: (prompt) => ask(`${prompt}: `, true),
  };
}

/** Host sources from the CLI's environment (see hostSourcesFromEnv); bad values are usage errors. */
export function cliHostSources(io: CliIO): HostSources {
  try {
    return hostSourcesFromEnv(io.env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `cloudtrain ssh hosts` / `cloudtrain ssh check <host>`. */
export const runSsh = scoped(async (argv, io) => {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { json: { type: 'boolean' } } });
  const [sub, host] = positionals;
  const sources = cliHostSources(io);
  if (sub === 'hosts' && positionals.length === 1) {
    const hosts = await listHostChoices(sources);
    if (values.json) io.stdout.write(`${JSON.stringify(hosts, null, 2)}\n`);
    else if (!hosts.length) io.stdout.write('No SSH hosts (add them to ~/.ssh/config or $CLOUD_TRAINING_SSH_HOSTS)\n');
    else for (const h of hosts) io.stdout.write(`${h.name.padEnd(24)} ${h.detail.padEnd(36)} ${h.source}\n`);
    return 0;
  }
  if (sub === 'check' && host && positionals.length === 2) {
    const provider = io.scope.use(new SshProvider({ cacheDir: dataLayout(io.dataHome).cacheDir, hostSources: () => sources }));
    const conn = await provider.connection(host, { prompter: ttyPrompter(io), log: (l) => io.stderr.write(`${l}\n`) });
    const report = await checkGpus(conn);
    if (values.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else io.stdout.write(`${describeGpus(report)}\n`);
    if (report.warning && !values.json) io.stderr.write(`warning: ${report.warning}\n`);
    return 0;
  }
  throw new UsageError(USAGE);
});

export const SSH_CLI_HELP = `${USAGE}\n  hosts   list SSH hosts (~/.ssh/config + $CLOUD_TRAINING_SSH_HOSTS)\n  check   connect (verifying the host key) and show nvidia-smi's GPUs\nconfig: ${path.join('~', '.ssh', 'config')} (override with $CLOUD_TRAINING_SSH_CONFIG)`;
