// Mocha root hooks for the e2e scenarios: one browser on one workbench for the whole run (opening
// VS Code costs seconds), a screenshot of whatever is on screen when a scenario fails.
import type { Context } from 'mocha';
import { e2eEnv, Workbench } from './workbench';

let current: Workbench | undefined;

/** The workbench opened on the example workspace; scenarios share it in file order. */
export function workbench(): Workbench {
  if (!current) throw new Error('the workbench is not open (root hook failed?)');
  return current;
}

export const mochaHooks = {
  async beforeAll(this: Context) {
    this.timeout(180_000);
    current = await Workbench.open(e2eEnv());
  },
  async afterEach(this: Context) {
    const t = this.currentTest;
    if (current && t?.state === 'failed') {
      await current.screenshot(`FAILED-${t.titlePath().join('-')}`).catch(() => undefined);
    }
  },
  async afterAll(this: Context) {
    this.timeout(30_000);
    const external = current?.externalRequests ?? [];
    await current?.close();
    current = undefined;
    if (external.length) throw new Error(`the workbench tried to reach outside the machine: ${external.slice(0, 5).join(', ')}`);
  },
};
