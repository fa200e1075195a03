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
    case 'together':
      return {
        destination: `Together AI (api.together.xyz, USA): the JSONL file(s) in your account's file storage (purpose fine-tune), read by a fine-tune of ${typeof options.model === 'string' ? options.model : 'the chosen base model'}`,
        afterwards: options.keepUploads === true
          ? 'The uploaded files stay in your Together account (you chose to keep them). The fine-tuned model stays in your Together account.'
          : 'The uploaded files are deleted from Together when the job ends (succeeded, failed or cancelled). The fine-tuned model stays in your Together account.',
      };
    case 'fireworks':
      return {
        destination: `Fireworks (api.fireworks.ai, USA): a dataset in your Fireworks account${typeof options.accountId === 'string' ? ` ${options.accountId}` : ''}, read by a supervised fine-tune of ${typeof options.model === 'string' ? options.model : 'the chosen base model'}`,
        afterwards: options.keepUploads === true
          ? 'The datasets stay in your Fireworks account (you chose to keep them). The fine-tuned model stays in your Fireworks account.'
          : 'The datasets are deleted from Fireworks when the job ends (succeeded, failed or cancelled). The fine-tuned model stays in your Fireworks account.',
      };
    case 'local':
      return { destination: 'Nowhere: the job runs on this machine', afterwards: 'Nothing leaves this machine.' };
  }
}
