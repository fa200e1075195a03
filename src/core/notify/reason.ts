import { promises as fs } from 'node:fs';

/**
 * Why a job failed, in one line a person can act on: the last meaningful line of its log mirror
 * (an exception, `CUDA out of memory`, an `error:` line), else the provider's error. Generic provider
 * errors ("exited with code 1") say less than the log, so the log line comes first when there is one.
 */
const STRONG = [/out of memory/i, /\b[A-Z][A-Za-z]*(Error|Exception)\b\s*:/, /\bKilled\b/, /\bSegmentation fault\b/i, /\bNo space left on device\b/i];
const WEAK = /\b(error|fatal|failed|exception)\b/i;
/** Lines that are noise at the end of a failure: tracebacks' frames, progress bars, blank lines. */
const NOISE = /^(\s*File ".*", line \d+|\s*Traceback \(most recent call last\)|\s*\^+\s*$|\s*~+\s*$|.*\d+%\|.*\|)/;

export async function lastMeaningfulLogLine(logPath: string | undefined, maxBytes = 64 * 1024): Promise<string | undefined> {
  if (!logPath) return undefined;
  let text: string;
  try {
    const fh = await fs.open(logPath, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, maxBytes);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      text = buf.toString('utf8');
    } finally { await fh.close(); }
  } catch { return undefined; }
  // tqdm redraws with \r: only the last state of a line counts.
  const lines = text.split('\n').map((l) => l.split('\r').pop()!.trim()).filter((l) => l && !NOISE.test(l));
  for (const re of STRONG) for (let i = lines.length - 1; i >= 0; i--) if (re.test(lines[i]!)) return clip(lines[i]!);
  for (let i = lines.length - 1; i >= 0; i--) if (WEAK.test(lines[i]!)) return clip(lines[i]!);
  return undefined;
}

export async function failureReason(job: { error?: string; logPath?: string }): Promise<string | undefined> {
  const line = await lastMeaningfulLogLine(job.logPath);
  const error = job.error?.trim();
  if (line && error && !line.includes(error) && !error.includes(line)) return redact(`${line} (${error})`);
  return (line ?? error) ? redact(line ?? error!) : undefined;
}

const clip = (s: string, max = 300): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** Token shapes of the services we talk to, and generic bearer/key=value secrets: never sent on. */
const SECRETS: RegExp[] = [
  /\bhf_[A-Za-z0-9]{20,}\b/g, /\br8_[A-Za-z0-9]{20,}\b/g, /\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g,
  /\bsk-[A-Za-z0-9_-]{20,}\b/g, /(Bearer|Token)\s+[A-Za-z0-9._~+/=-]{12,}/gi,
  /\b((?:api[_-]?key|token|secret|password|passwd)\s*[=:]\s*)\S+/gi,
];
export function redact(s: string): string {
  let out = s;
  for (const re of SECRETS) out = out.replace(re, (m, p1: string | undefined) => (typeof p1 === 'string' && /[=:]\s*$/.test(p1) ? `${p1}[redacted]` : '[redacted]'));
  return out;
}
