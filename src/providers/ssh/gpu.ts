import * as z from 'zod';
import type { SshConnection } from './connection';

export const GpuSchema = z.object({
  index: z.number().int().nonnegative(),
  name: z.string(),
  uuid: z.string(),
  memoryTotalMiB: z.number().nonnegative(),
  memoryUsedMiB: z.number().nonnegative(),
  utilizationPercent: z.number().nonnegative().optional(),
});
export const GpuProcessSchema = z.object({ gpuUuid: z.string(), pid: z.number().int(), name: z.string(), usedMemoryMiB: z.number().nonnegative().optional() });
export type Gpu = z.infer<typeof GpuSchema>;
export type GpuProcess = z.infer<typeof GpuProcessSchema>;

export interface GpuReport {
  gpus: Gpu[];
  processes: GpuProcess[];
  /** Set when there is no usable GPU: the host can still run (CPU tests) but the user is warned. */
  warning?: string;
}

const QUERY_GPU = 'nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used,utilization.gpu --format=csv,noheader,nounits';
const QUERY_APPS = 'nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv,noheader,nounits';
export const GPU_CHECK_COMMAND = `if command -v nvidia-smi >/dev/null 2>&1; then ${QUERY_GPU} || echo NVIDIA_SMI_FAILED; echo '--- apps'; ${QUERY_APPS} 2>/dev/null; else echo NO_NVIDIA_SMI; fi`;

export async function checkGpus(conn: SshConnection, signal?: AbortSignal): Promise<GpuReport> {
  const r = await conn.exec(GPU_CHECK_COMMAND, { signal });
  return parseGpuCheck(r.stdout, r.stderr);
}

/** Parse GPU_CHECK_COMMAND's output (CSV from nvidia-smi's query mode). */
export function parseGpuCheck(stdout: string, stderr = ''): GpuReport {
  if (/^NO_NVIDIA_SMI/m.test(stdout)) return { gpus: [], processes: [], warning: 'nvidia-smi not found on the host: no NVIDIA GPU (or no driver). Training will run on the CPU.' };
  const [gpuPart = '', appPart = ''] = stdout.split(/^--- apps$/m);
  if (/NVIDIA_SMI_FAILED/.test(gpuPart)) {
    return { gpus: [], processes: [], warning: `nvidia-smi failed on the host (driver problem?): ${(stderr || gpuPart).trim().slice(0, 300)}` };
  }
  const num = (s: string | undefined) => {
    const n = Number(s?.trim());
    return Number.isFinite(n) ? n : undefined;
  };
  const gpus: Gpu[] = [];
  for (const line of gpuPart.split('\n')) {
    const f = line.split(',').map((s) => s.trim());
    if (f.length < 5 || num(f[0]) === undefined) continue;
    const g = GpuSchema.safeParse({ index: num(f[0]), name: f[1], uuid: f[2], memoryTotalMiB: num(f[3]), memoryUsedMiB: num(f[4]) ?? 0, utilizationPercent: num(f[5]) });
    if (g.success) gpus.push(g.data);
  }
  const processes: GpuProcess[] = [];
  for (const line of appPart.split('\n')) {
    const f = line.split(',').map((s) => s.trim());
    if (f.length < 3) continue;
    const p = GpuProcessSchema.safeParse({ gpuUuid: f[0], pid: num(f[1]), name: f[2], usedMemoryMiB: num(f[3]) });
    if (p.success) processes.push(p.data);
  }
  return { gpus, processes, warning: gpus.length ? undefined : 'nvidia-smi reports no GPUs on this host. Training will run on the CPU.' };
}

export function describeGpus(r: GpuReport): string {
  if (!r.gpus.length) return r.warning ?? 'No GPUs';
  return r.gpus.map((g) => {
    const procs = r.processes.filter((p) => p.gpuUuid === g.uuid);
    return `GPU ${g.index}: ${g.name}, ${Math.round(g.memoryUsedMiB)}/${Math.round(g.memoryTotalMiB)} MiB used${g.utilizationPercent !== undefined ? `, ${g.utilizationPercent}% busy` : ''}${procs.length ? ` — ${procs.length} process(es): ${procs.map((p) => `${p.name} (${p.pid})`).join(', ')}` : ''}`;
  }).join('\n');
}
