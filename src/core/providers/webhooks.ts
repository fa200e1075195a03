import type { ProviderId } from '../jobs/schema';
import type { ProviderRegistry } from './registry';
import type { ProviderWebhooks, WebhookContext } from './types';

export interface WebhookRouting {
  /** The provider's own signing secret; undefined for a provider without webhooks. */
  secret(provider: string): Promise<string | undefined>;
  /** Hand a verified delivery to the provider's webhook capability. */
  handle(provider: string, payload: unknown): Promise<void>;
}

/**
 * `/api/cloud/webhooks/{provider}` → that provider's `webhooks` capability, for whichever providers the
 * registry holds (looked up at each delivery, so a re-registered provider gets the next one).
 */
export function webhookRouting(registry: ProviderRegistry, ctx: WebhookContext): WebhookRouting {
  const find = (provider: string): ProviderWebhooks | undefined =>
    registry.has(provider as ProviderId) ? registry.get(provider as ProviderId).webhooks : undefined;
  return {
    secret: async (provider) => find(provider)?.secret?.(),
    handle: async (provider, payload) => {
      const hooks = find(provider);
      if (!hooks) throw new Error(`No webhook handler for provider "${provider}"`);
      await hooks.handle(payload, ctx);
    },
  };
}
