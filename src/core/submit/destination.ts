import type { ProviderId } from '../jobs/schema';

/** Plain words for where uploaded data goes and what happens to it afterwards, shown before consent. */
export function destinationFor(provider: ProviderId, hardware: string | undefined, options: Record<string, unknown> = {}): { destination: string; afterwards: string } {
  const host = typeof options.host === 'string' ? options.host : undefined;
  switch (provider) {
    case 'replicate':
      return {
        destination: `Replicate (replicate.com, USA): one zip in your account's file storage, read by a SimpleTuner training on ${hardware ?? 'the chosen GPU'}`,
        afterwards: 'The uploaded zip is deleted from Replicate when the job ends (succeeded, failed or cancelled). Trained weights are delivered to you; Replicate keeps its own training logs under its retention policy.',
      };
    case 'ssh':
      return {
        destination: `Your SSH host${host ? ` ${host}` : ''}: a job folder under the remote work directory, synced file by file`,
        afterwards: 'The dataset copy stays on the host so the next job only sends changed files; delete the remote folder to remove it.',
      };
    case 'slurm':
      return {
        destination: `Your Slurm cluster${host ? ` (login node ${host})` : ''}: a job folder on the cluster's shared file system`,
        afterwards: 'The dataset copy stays on the cluster for later jobs; delete the remote folder to remove it.',
      };
    case 'local':
      return { destination: 'Nowhere: the job runs on this machine', afterwards: 'Nothing leaves this machine.' };
  }
}
