#!/usr/bin/env node
'use strict';
/**
 * First step of `npm test`: the suite runs real Debian programs (sshd, slurmctld/slurmd/munged, aws,
 * s3cmd, chromium, tmux…). On a fresh machine they are missing and a dozen tests would fail one by
 * one. So: check the packages in scripts/debian-packages.txt (the list `.ci/run` installs too);
 * install the missing ones when we can (root, or `sudo -n` works), else stop at once with the one
 * command to run. CLOUD_TRAINING_SKIP_APT=1 skips the check (you know your machine).
 *
 * CommonJS without dependencies: it runs before the build, and the tests require its functions.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_LIST = path.join(__dirname, 'debian-packages.txt');
const SKIP_VAR = 'CLOUD_TRAINING_SKIP_APT';
/** Wait for another apt/dpkg (unattended upgrades, a second engineer) instead of failing at once. */
const LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=300'];

/** Package names from the list file: whitespace-separated, `#` comments, each name once, in order. */
function parsePackageList(text) {
  const names = text.split('\n').flatMap((line) => line.replace(/#.*/, '').split(/\s+/)).filter(Boolean);
  return [...new Set(names)];
}

/** Installed packages among `packages` per dpkg; null where there is no dpkg (not Debian/Ubuntu). */
function installedPackages(packages, run) {
  // One call for all; unknown names go to stderr (exit 1) and are simply absent from the output.
  const r = run('dpkg-query', ['-W', '-f=${Package}\t${db:Status-Abbrev}\n', ...packages]);
  if (r.error) return null;
  const installed = new Set();
  for (const line of String(r.stdout ?? '').split('\n')) {
    const [name, abbrev = ''] = line.split('\t');
    // Status-Abbrev: desired, current, error; current "i" = installed ("rc", "un" are not).
    if (name && abbrev[1] === 'i') installed.add(name);
  }
  return installed;
}

/** The line a person runs when we cannot install ourselves. */
function manualCommand(missing) {
  return `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`;
}

/** The apt-get calls that install `missing`, as root or through `sudo -n`. */
function aptCommands(missing, viaSudo) {
  const prefix = viaSudo ? ['sudo', '-n', 'env', 'DEBIAN_FRONTEND=noninteractive'] : [];
  return [
    [...prefix, 'apt-get', 'update', ...LOCK_WAIT],
    [...prefix, 'apt-get', 'install', '-y', '--no-install-recommends', ...LOCK_WAIT, ...missing],
  ];
}

function stopMessage(missing, why) {
  return [
    `npm test needs Debian packages that are not installed: ${missing.join(', ')}.`,
    `${why} Install them with:`,
    '',
    `  ${manualCommand(missing)}`,
    '',
    `then run npm test again (or set ${SKIP_VAR}=1 to skip this check).`,
  ].join('\n');
}

/**
 * What to do, from the facts alone (tested without touching the machine):
 * skip | ok | install (as root or via sudo) | stop (with the message to print).
 */
function decide({ packages, installed, env, isRoot, canSudo }) {
  if (env[SKIP_VAR] && env[SKIP_VAR] !== '0') return { kind: 'skip' };
  if (installed === null) {
    return {
      kind: 'stop',
      message: `npm test runs real Debian programs (sshd, Slurm, aws, s3cmd, chromium…) and this machine has no dpkg.\nInstall the equivalents of: ${packages.join(' ')}\nthen run the tests with ${SKIP_VAR}=1.`,
    };
  }
  const missing = packages.filter((p) => !installed.has(p));
  if (!missing.length) return { kind: 'ok' };
  if (isRoot) return { kind: 'install', viaSudo: false, missing };
  if (canSudo()) return { kind: 'install', viaSudo: true, missing };
  return { kind: 'stop', missing, message: stopMessage(missing, 'This user is not root and sudo asks for a password.') };
}

/** Run the check (and the install); returns the exit code. Everything the machine answers goes through `run`. */
function preflight({
  env = process.env,
  isRoot = typeof process.getuid === 'function' && process.getuid() === 0,
  listFile = PACKAGE_LIST,
  log = (line) => process.stderr.write(`${line}\n`),
  run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', env, ...opts }),
} = {}) {
  const packages = parsePackageList(fs.readFileSync(listFile, 'utf8'));
  const plan = decide({
    packages, env, isRoot,
    installed: env[SKIP_VAR] && env[SKIP_VAR] !== '0' ? new Set() : installedPackages(packages, run),
    canSudo: () => run('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0,
  });
  if (plan.kind === 'skip' || plan.kind === 'ok') return 0;
  if (plan.kind === 'stop') {
    log(plan.message);
    return 1;
  }
  log(`Installing the Debian packages the tests need: ${plan.missing.join(' ')}`);
  for (const [cmd, ...args] of aptCommands(plan.missing, plan.viaSudo)) {
    const r = run(cmd, args, { stdio: 'inherit', env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      log(stopMessage(plan.missing, `\`${[cmd, ...args].join(' ')}\` failed (${r.error ? r.error.message : `exit ${r.status}`}).`));
      return 1;
    }
  }
  const after = installedPackages(packages, run) ?? new Set();
  const still = plan.missing.filter((p) => !after.has(p));
  if (still.length) {
    log(stopMessage(still, 'apt-get finished but they are still not installed.'));
    return 1;
  }
  return 0;
}

module.exports = { PACKAGE_LIST, SKIP_VAR, parsePackageList, installedPackages, decide, aptCommands, manualCommand, preflight };

if (require.main === module) process.exitCode = preflight();
