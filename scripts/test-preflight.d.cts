// Types for scripts/test-preflight.cjs (plain CommonJS so it runs before the build).
import type { SpawnSyncReturns } from 'node:child_process';

type Run = (cmd: string, args: string[], opts?: Record<string, unknown>) => Pick<SpawnSyncReturns<string>, 'status' | 'stdout' | 'error'>;
export type Plan =
  | { kind: 'skip' }
  | { kind: 'ok' }
  | { kind: 'install'; viaSudo: boolean; missing: string[] }
  | { kind: 'stop'; message: string; missing?: string[] };

export declare const PACKAGE_LIST: string;
export declare const SKIP_VAR: string;
export declare function parsePackageList(text: string): string[];
export declare function installedPackages(packages: string[], run: Run): Set<string> | null;
export declare function decide(o: { packages: string[]; installed: Set<string> | null; env: NodeJS.ProcessEnv; isRoot: boolean; canSudo: () => boolean }): Plan;
export declare function aptCommands(missing: string[], viaSudo: boolean): string[][];
export declare function manualCommand(missing: string[]): string;
export declare function preflight(o?: { env?: NodeJS.ProcessEnv; isRoot?: boolean; listFile?: string; log?: (line: string) => void; run?: Run }): number;
