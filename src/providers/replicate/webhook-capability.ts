import type { ProviderWebhooks } from '../../core/providers/types';
import type { ReplicateProvider } from './provider';

/** Replicate's webhook capability: its default signing secret, and the job update of ./webhook. */
export function replicateWebhooks(provider: ReplicateProvider): ProviderWebhooks {
  let secret: Promise<string> | undefined;
  let handle: ((payload: unknown) => Promise<void>) | undefined;
  return {
    secret: () => (secret ??= provider.webhookSecret().catch((e: unknown) => {
      secret = undefined;
      throw e;
    })),
    handle: async (payload, ctx) => {
      // The handler loads with the first webhook, not with the provider (nor at activation).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { createReplicateWebhookHandler } = require('./webhook') as typeof import('./webhook');
      handle ??= createReplicateWebhookHandler({ history: ctx.history, provider: () => provider, dataHome: ctx.dataHome, log: ctx.log });
      await handle(payload);
    },
  };
}
