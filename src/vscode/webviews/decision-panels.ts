import type { ConsentAnswer } from '../../core/consent/policy';
import type { ConsentSummary } from '../../core/consent/summary';
import type { CostViewData } from '../../../webview/shared/protocol';
import type { ExtensionServices } from '../services';
import { openViewPanel } from './panel';

/*
 * The consent and cost panels belong to one in-flight submission, so they are not restored after a
 * window reload (the submission itself did not survive it). Closing the panel or cancelling the
 * submission's progress notification counts as "cancel".
 */

/** Shows the consent view and resolves with the person's answer ('cancel' if the panel is closed or the signal fires). */
export function askConsentInPanel(services: ExtensionServices, summary: ConsentSummary, canAlwaysAllow: boolean, signal?: AbortSignal): Promise<ConsentAnswer> {
  return decide<ConsentAnswer>(signal, 'cancel', (settle) => {
    const { panel, channel } = openViewPanel(services, {
      viewType: 'cloudTraining.consent', view: 'consent', title: `Upload to ${summary.providerName}?`,
      data: () => ({ summary, canAlwaysAllow }),
    });
    channel.handle('consent.answer', ({ answer }) => {
      settle(answer);
      setTimeout(() => panel.dispose(), 600); // let the page show that the answer arrived
      return { accepted: true };
    });
    return panel;
  });
}

/** Shows the cost view; resolves true for Submit, false for Cancel / closed panel / signal. */
export function confirmCostInPanel(services: ExtensionServices, data: CostViewData, signal?: AbortSignal): Promise<boolean> {
  return decide<boolean>(signal, false, (settle) => {
    const { panel, channel } = openViewPanel(services, {
      viewType: 'cloudTraining.cost', view: 'cost', title: `Cost estimate: ${data.estimate.hardware}`, data: () => data,
    });
    channel.handle('cost.confirm', ({ proceed }) => {
      if (proceed && !data.limits.ok) throw new Error('A spending limit blocks this job');
      settle(proceed);
      setTimeout(() => panel.dispose(), 600);
      return { accepted: true };
    });
    return panel;
  });
}

/** The estimate on its own (command "Estimate Cost"): no decision to wait for. */
export function showCostPanel(services: ExtensionServices, data: CostViewData): void {
  openViewPanel(services, { viewType: 'cloudTraining.cost', view: 'cost', title: `Cost estimate: ${data.estimate.hardware}`, data: () => data });
}

function decide<T>(signal: AbortSignal | undefined, onClose: T, open: (settle: (v: T) => void) => { dispose(): void; onDidDispose(f: () => void): unknown }): Promise<T> {
  return new Promise<T>((resolve) => {
    let done = false;
    const settle = (v: T) => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const panel = open(settle);
    const onAbort = () => {
      settle(onClose);
      panel.dispose();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    panel.onDidDispose(() => settle(onClose));
  });
}
