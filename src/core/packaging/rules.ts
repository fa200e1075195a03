import { compileGlobs } from './globs';

/**
 * Files that must never leave the machine, whatever the user's settings say. Checked on every path
 * segment, so `a/.ssh/config` and `a/.git/objects/..` are excluded with the folder's reason.
 */
interface SecretRule { re: RegExp; label: string }

const SECRET_DIRS = new Map(['.git', '.ssh', '.aws', '.gnupg', '.azure', '.docker', '.kube'].map((d) => [d, `${d}/ folder`]));

const SECRET_FILES: SecretRule[] = [
  { re: /^\.env/i, label: '.env* file' },
  { re: /^[._]netrc$/i, label: '.netrc' },
  { re: /\.pem$/i, label: '*.pem key/certificate' },
  { re: /\.key$/i, label: '*.key private key' },
  { re: /\.(p12|pfx)$/i, label: 'PKCS#12 key store' },
  { re: /^id_(rsa|ed25519|ecdsa|dsa)/i, label: 'SSH private key (id_*)' },
  { re: /^credentials|^\.git-credentials$/i, label: 'credentials* file' },
  { re: /\.token$/i, label: '*.token file' },
  { re: /^\.(npmrc|pypirc)$/i, label: 'package-registry credentials' },
];
// One test for the common case (no rule matches), as scans run this on every path of 100k-file datasets.
const ANY_SECRET_FILE = new RegExp(SECRET_FILES.map((r) => `(?:${r.re.source})`).join('|'), 'i');

function secretNameLabel(name: string): string | undefined {
  const dir = SECRET_DIRS.get(name.toLowerCase());
  if (dir) return dir;
  return ANY_SECRET_FILE.test(name) ? SECRET_FILES.find((r) => r.re.test(name))?.label : undefined;
}

/**
 * Why `relPath` (dataset-relative, '/'-separated) is a secret, or undefined. Every segment is checked
 * against both lists: a file called `.git` or a folder called `.env` is excluded just the same.
 */
export function secretReason(relPath: string): string | undefined {
  for (const name of relPath.split('/')) {
    const label = secretNameLabel(name);
    if (label) return `secret: ${label}`;
  }
  return undefined;
}

export interface ExclusionRules {
  /** Reason to skip a file or folder, or undefined to keep it. */
  reason(relPath: string): string | undefined;
}

export function exclusionRules(extraExcludes: readonly string[] = []): ExclusionRules {
  const user = compileGlobs(extraExcludes);
  return {
    reason(relPath) {
      const secret = secretReason(relPath);
      if (secret) return secret;
      const g = user(relPath);
      return g ? `excluded by setting: ${g}` : undefined;
    },
  };
}
