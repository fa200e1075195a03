import type { ProviderId } from '../jobs/schema';
import type { TrainingProvider } from './types';

/** Providers by id. Built lazily so activation does not load ssh2 or the Replicate client until used. */
export class ProviderRegistry {
  private readonly factories = new Map<ProviderId, () => TrainingProvider>();
  private readonly instances = new Map<ProviderId, TrainingProvider>();

  register(id: ProviderId, factory: () => TrainingProvider): void {
    this.factories.set(id, factory);
    const old = this.instances.get(id);
    this.instances.delete(id);
    void old?.dispose?.();
  }

  has(id: ProviderId): boolean {
    return this.factories.has(id);
  }

  ids(): ProviderId[] {
    return [...this.factories.keys()];
  }

  get(id: ProviderId): TrainingProvider {
    let p = this.instances.get(id);
    if (!p) {
      const f = this.factories.get(id);
      if (!f) throw new Error(`Provider "${id}" is not available (known: ${this.ids().join(', ') || 'none'})`);
      p = f();
      this.instances.set(id, p);
    }
    return p;
  }

  async dispose(): Promise<void> {
    for (const p of this.instances.values()) await p.dispose?.();
    this.instances.clear();
  }
}
