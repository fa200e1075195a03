import type * as vscode from 'vscode';
import type { DefaultRegistryOptions } from '../providers/defaults';
import { readLocalCommand } from './local/register';
import { registerReplicate } from './replicate/register';
import type { ExtensionServices } from './services';
import { readSlurmClusters, registerSlurm, slurmHostSources } from './slurm/register';
import { registerSsh } from './ssh/register';
import { registerMachines } from './machines/register';
import { registerTogether } from './together/register';
import { registerFireworks } from './fireworks/register';

/**
 * Each provider's editor wiring (commands, pickers, settings) lives in one file under src/vscode/<provider>/;
 * `activate` calls these in order. A new provider adds its file and one entry here.
 */
export const PROVIDER_WIRING: readonly ((services: ExtensionServices) => void)[] = [registerReplicate, registerSsh, registerSlurm, registerTogether, registerFireworks, registerMachines];

/** What the default registry (src/providers/defaults.ts) reads from the editor's settings, per provider. */
export function editorRegistryOptions(log: vscode.LogOutputChannel): Pick<DefaultRegistryOptions, 'localCommand' | 'slurmClusters' | 'sshHostSources'> {
  return {
    localCommand: readLocalCommand,
    slurmClusters: () => readSlurmClusters(log),
    sshHostSources: () => slurmHostSources(log),
  };
}
