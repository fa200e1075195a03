// The main journey: Submit… from the command palette on the example config with the local
// provider; the job appears in the tree, runs, succeeds, and its output channel has the
// training lines.
import assert from 'node:assert/strict';
import { workbench } from './support/hooks';
import { submitFromPalette } from './support/submit';
import { waitFor } from './support/workbench';
import { readdirSync } from 'node:fs';
import path from 'node:path';

/** Files named `name` anywhere under `dir` (bounded depth: job folders are shallow). */
function findFiles(dir: string, name: string, depth = 6): string[] {
  if (depth < 0) return [];
  let entries: import('node:fs').Dirent[] = [];
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return []; }
  return entries.flatMap((e) => e.isDirectory() ? findFiles(path.join(dir, e.name), name, depth - 1) : e.name === name ? [path.join(dir, e.name)] : []);
}

describe('submit to this machine', () => {
  it('Submit… from the palette: the job appears, runs and succeeds', async () => {
    const wb = workbench();
    // The user has the example's training config open and runs Submit… from the palette.
    await wb.openFile('config/config.json');
    await wb.showJobsView();
    const { steps } = await submitFromPalette(wb, { provider: /\blocal\b|this machine/i });
    console.log(`      submit steps: ${steps.join(' → ')}`);

    // Running, with the step counter parsed from the trainer's log lines.
    const running = await wb.waitForJobRow(/\brunning\b.*\b\d+\/120\b/i, 60_000);
    assert.match(running.text, /running/i);
    await wb.screenshot('04-tree-job-running');

    const done = await wb.waitForJobRow(/\bsucceeded\b/i, 120_000);
    assert.doesNotMatch(done.text, /failed|cancelled/i);
    assert.match(done.text, /120\/120/, 'the tree shows the final step count');
    await wb.screenshot('04-tree-job-succeeded');
    // The training really ran: the demo trainer wrote its final weights.
    const weights = [...findFiles(wb.env.dataHome, 'pytorch_lora_weights.json'), ...findFiles(wb.env.workspaceDir, 'pytorch_lora_weights.json')];
    assert.ok(weights.length > 0, 'the job wrote pytorch_lora_weights.json');
  });

  it("the job's output channel shows its training lines", async () => {
    const wb = workbench();
    const { row, text: rowText } = await wb.waitForJobRow(/\bsucceeded\b/i, 5_000);
    // Submit… already showed the log: hide the panel so that Show Logs has to bring it back.
    const panel = wb.page.locator('.part.panel');
    if (await panel.isVisible()) await wb.page.keyboard.press('Control+J');
    await panel.waitFor({ state: 'hidden', timeout: 5_000 });
    await wb.contextMenu(row, 'Show Logs');
    await panel.waitFor({ state: 'visible', timeout: 10_000 });
    // The channel shown is this job's own ("Cloud Training: <job name> (<id>)").
    const channel = await wb.page.locator('.part.panel .monaco-select-box').first().inputValue().catch(async () =>
      wb.page.locator('.part.panel .monaco-select-box').first().getAttribute('title'));
    const jobName = rowText.split(' succeeded')[0]!.trim();
    assert.ok(channel?.includes(jobName), `the output panel shows the job's channel (shown: ${channel}, job: ${jobName})`);
    // The demo trainer prints SimpleTuner-style progress and a closing line; the channel shows the end.
    const text = await waitFor('training lines in the output panel', async () => {
      const t = await wb.outputText().catch(() => '');
      return /Training complete/.test(t) && /\d+\/\d+ \[/.test(t) ? t : undefined;
    }, 30_000);
    assert.match(text, /Steps:\s*100%.*120\/120/);
    await wb.screenshot('04-output-channel-logs');
  });
});
