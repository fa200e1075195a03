import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobHistory } from '../../../src/core/jobs/history';
import { ProviderRegistry } from '../../../src/core/providers/registry';
import type { TrainingProvider, WebhookContext } from '../../../src/core/providers/types';
import { webhookRouting } from '../../../src/core/providers/webhooks';

/** The smallest provider: only what the routing reads. */
function fake(id: 'local' | 'replicate', webhooks?: TrainingProvider['webhooks']): TrainingProvider {
  return { id, webhooks } as unknown as TrainingProvider;
}

describe('webhook routing (provider capability)', () => {
  let dir: string;
  let ctx: WebhookContext;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ct-hooks-'));
    ctx = { history: new JobHistory(path.join(dir, 'history')), dataHome: dir };
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('routes secret and deliveries to the provider that has the capability', async () => {
    const got: unknown[] = [];
    const registry = new ProviderRegistry();
    registry.register('replicate', () => fake('replicate', { secret: async () => 'whsec_x', handle: async (p, c) => void got.push([p, c.dataHome]) }));
    registry.register('local', () => fake('local'));
    const routes = webhookRouting(registry, ctx);
    assert.equal(await routes.secret('replicate'), 'whsec_x');
    assert.equal(await routes.secret('local'), undefined);
    assert.equal(await routes.secret('nope'), undefined);
    await routes.handle('replicate', { id: 'r1' });
    assert.deepEqual(got, [[{ id: 'r1' }, dir]]);
    await assert.rejects(routes.handle('local', {}), /No webhook handler for provider "local"/);
    await assert.rejects(routes.handle('nope', {}), /No webhook handler for provider "nope"/);
  });

  it('a re-registered provider receives the next delivery', async () => {
    const got: string[] = [];
    const registry = new ProviderRegistry();
    registry.register('replicate', () => fake('replicate', { handle: async () => void got.push('old') }));
    const routes = webhookRouting(registry, ctx);
    await routes.handle('replicate', {});
    registry.register('replicate', () => fake('replicate', { handle: async () => void got.push('new') }));
    await routes.handle('replicate', {});
    assert.deepEqual(got, ['old', 'new']);
  });
});
