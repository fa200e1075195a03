import { compileGlobs } from './globs';

/**
 * Files that must never leave the machine, whatever the user's settings say. Checked on every path
 * segment, so `a/.ssh/config` and `a/.git/objects/..` are excluded with the folder's reason.
 */
interface SecretRule { test: (name: string) => boolean; label: string }

const SECRET_DIRS: SecretRule[] = ['.git', '.ssh', '.aws', '.gnupg', '.azure', '.docker', '.kube'].map((d) => ({
  test: (n: string) => n.toLowerCase() === d,
  label: `${d}/ folder`,
}));

const SECRET_FILES: SecretRule[] = [
  { test: (n) => /^\.env/i.test(n), label: '.env* file' },
  { test: (n) => n.toLowerCase() === '.netrc' || n.toLowerCase() === '_netrc', label: '.netrc' },
  { test: (n) => /\.pem$/i.test(n), label: '*.pem key/certificate' },
  { test: (n) => /\.key$/i.test(n), label: '*.key private key' },
  { test: (n) => /\.(p12|pfx)$/i.test(n), label: 'PKCS#12 key store' },
  { test: (n) => /^id_(rsa|ed25519|ecdsa|dsa)/i.test(n), label: 'SSH private key (id_*)' },
  { test: (n) => /^credentials/i.test(n) || /^\.git-credentials$/i.test(n), label: 'credentials* file' },
  { test: (n) => /\.token$/i.test(n), label: '*.token file' },
  { test: (n) => /^\.(npmrc|pypirc)$/i.test(n), label: 'package-registry credentials' },
];

/**
 * Why `relPath` (dataset-relative, '/'-separated) is a secret, or undefined. Every segment is checked
 * against both lists: a file called `.git` or a folder called `.env` is excluded just the same.
 */
export function secretReason(relPath: string): string | undefined {
  for (const name of relPath.split('/')) {
    const rule = SECRET_DIRS.find((r) => r.test(name)) ?? SECRET_FILES.find((r) => r.test(name));
    if (rule) return `secret: ${rule.label}`;
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
