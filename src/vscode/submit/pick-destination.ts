import * as vscode from 'vscode';
import { DestinationSchema, HF_TOKEN_SECRET, s3SecretName, type Destination } from '../../core/destinations/schema';
import type { ProviderId } from '../../core/jobs/schema';
import type { ExtensionServices } from '../services';
import { prepareLocalEndpoint, secretLookup } from '../server/register';

type Choice = 'provider' | 'huggingface' | 's3' | 'local';
type Item = vscode.QuickPickItem & { id: Choice };

/**
 * "Where should the trained weights go?" (F13). Replicate's trainer publishes results itself (HF,
 * S3, or this machine's endpoint); for local, SSH and Slurm jobs the outputs end up on this machine
 * anyway (SSH/Slurm: downloaded into the workspace), and this machine pushes a succeeded job's
 * output folder to HF or S3 — "leave them here" is the first, default choice.
 * Returns null for "leave them where they are", undefined when the person cancelled.
 * Only non-secret fields are returned: tokens and secret keys stay in SecretStorage.
 */
export async function pickResultsDestination(services: ExtensionServices, provider: ProviderId = 'replicate', title?: string): Promise<Destination | null | undefined> {
  const pushed = provider === 'replicate' ? 'The trainer pushes' : 'When the job succeeds, this machine pushes the outputs';
  const items: Item[] = provider === 'replicate'
    ? [{ id: 'provider', label: '$(cloud) Keep them at the provider', detail: 'Download them later from the provider (Replicate keeps outputs for a limited time)' }]
    : [{
        id: 'provider',
        label: provider === 'local' ? '$(folder) Leave them here' : '$(folder) Leave them in the workspace',
        description: 'default',
        detail: provider === 'local' ? 'In the job\'s output folder on this machine ({output_dir})' : 'Downloaded to <workspace>/outputs/<job id> when the job ends',
      }];
  items.push(
    { id: 'huggingface', label: '$(package) HuggingFace Hub…', detail: `${pushed} to a model repo (token: Cloud Training: Set HuggingFace Token, or HF_TOKEN)` },
    { id: 's3', label: '$(database) An S3 bucket…', detail: `${pushed} to AWS, MinIO, R2… (secret key: Cloud Training: Set S3 Secret Key)` },
  );
  // Outputs of local/SSH/Slurm jobs are on this machine already: the built-in endpoint adds nothing.
  if (provider === 'replicate') {
    items.push({ id: 'local', label: '$(vm) This machine (built-in S3 endpoint)', detail: 'The trainer uploads to this machine with per-job credentials; a remote provider needs it exposed, e.g. through a tunnel' });
  }
  const pick = await vscode.window.showQuickPick<Item>(items, { title, placeHolder: 'Where should the trained weights go?', ignoreFocusOut: true });
  if (!pick) return undefined;
  const secrets = secretLookup(services);
  switch (pick.id) {
    case 'provider':
      return null;
    case 'huggingface': {
      const repoId = await vscode.window.showInputBox({ prompt: 'HuggingFace model repo (owner/name); created private if missing', ignoreFocusOut: true,
        validateInput: (v) => (DestinationSchema.safeParse({ kind: 'huggingface', repoId: v.trim() }).success ? undefined : 'owner/name, e.g. me/my-lora') });
      if (!repoId) return undefined;
      if (!(await secrets(HF_TOKEN_SECRET)) && !process.env.HF_TOKEN) {
        await vscode.commands.executeCommand('cloudTraining.setHuggingFaceToken');
        if (!(await secrets(HF_TOKEN_SECRET))) return undefined;
      }
      return DestinationSchema.parse({ kind: 'huggingface', repoId: repoId.trim() });
    }
    case 's3': {
      const endpoint = await vscode.window.showInputBox({ prompt: 'S3 endpoint URL (empty for AWS)', placeHolder: 'https://s3.example.com', ignoreFocusOut: true });
      if (endpoint === undefined) return undefined;
      const bucket = await vscode.window.showInputBox({ prompt: 'Bucket', ignoreFocusOut: true, validateInput: (v) => (v.trim().length >= 3 ? undefined : 'A bucket name') });
      if (!bucket) return undefined;
      const prefix = await vscode.window.showInputBox({ prompt: 'Key prefix (folder) for this job\'s results', value: 'cloud-training/', ignoreFocusOut: true });
      if (prefix === undefined) return undefined;
      const accessKeyId = await vscode.window.showInputBox({ prompt: 'Access key id (empty: AWS_* from the environment)', ignoreFocusOut: true });
      if (accessKeyId === undefined) return undefined;
      if (accessKeyId.trim() && !(await secrets(s3SecretName(accessKeyId.trim())))) {
        await vscode.commands.executeCommand('cloudTraining.setS3SecretKey', accessKeyId.trim());
        if (!(await secrets(s3SecretName(accessKeyId.trim())))) return undefined;
      }
      const parsed = DestinationSchema.safeParse({ kind: 's3', endpoint: endpoint.trim() || undefined, bucket: bucket.trim(), prefix: prefix.trim(), accessKeyId: accessKeyId.trim() || undefined });
      if (!parsed.success) throw new Error(`S3 destination: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
      return parsed.data;
    }
    case 'local': {
      const local = await prepareLocalEndpoint();
      const publicUrl = await vscode.window.showInputBox({
        prompt: `Public URL of this machine's endpoint (a tunnel to ${new URL(local.storageEndpoint).origin}); empty if the trainer can reach it directly`,
        ignoreFocusOut: true,
        validateInput: (v) => { if (!v.trim()) return undefined; try { new URL(v.trim()); return undefined; } catch { return 'A URL such as https://abc.trycloudflare.com'; } },
      });
      if (publicUrl === undefined) return undefined;
      return DestinationSchema.parse({ kind: 'local', publicUrl: publicUrl.trim() || undefined });
    }
  }
}
