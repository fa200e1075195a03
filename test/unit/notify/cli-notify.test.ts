import assert from 'node:assert/strict';
import path from 'node:path';
import { main } from '../../../src/cli/main';
import { JobEventPayloadSchema } from '../../../src/core/notify/payload';
import { capturedIo } from '../../support/captured-io';
import { tempDir } from '../../support/tmp';
import { startReceiver } from './receiver';

const EXAMPLE = path.resolve(__dirname, '../../../examples/simpletuner-demo');

describe('cli: job events to CLOUD_TRAINING_NOTIFY_URL when the CLI finalises', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => { t = tempDir(); });
  afterEach(() => t.cleanup());

  async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
    const io = capturedIo({ env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, cwd: EXAMPLE, dataHome: t.dir });
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  }

  it('`logs --follow` sends the failure (with the log reason) once, retrying a 500; `jobs` afterwards sends nothing more', async () => {
    const rx = await startReceiver((body) => { const p = JSON.parse(body); return `${p.job.id}:${p.event}`; }, [500]);
    try {
      const env = { CLOUD_TRAINING_NOTIFY_URL: rx.url, CLOUD_TRAINING_NOTIFY_FORMAT: 'json' };
      const sub = await cli(['submit', '--provider', 'local', '--command', "echo 'step 1/10 loss=0.5'; echo 'RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB' >&2; exit 3", '--name', 'oom-run', '--yes'], env);
      assert.equal(sub.code, 0, sub.err);
      const id = sub.out.split('\n')[0]!.trim();
      const follow = await cli(['logs', id, '--follow'], env);
      assert.equal(follow.code, 1, follow.err);
      assert.deepEqual(rx.received.map((r) => [r.key, r.answered]), [[`${id}:failed`, 500], [`${id}:failed`, 200]]);
      const p = JobEventPayloadSchema.parse(JSON.parse(rx.received[1]!.body));
      assert.equal(p.job.name, 'oom-run');
      assert.match(p.reason!, /^RuntimeError: CUDA out of memory/);
      assert.ok(!rx.received[1]!.body.includes(t.dir), 'no local paths');
      const again = await cli(['jobs'], env);
      assert.equal(again.code, 0, again.err);
      assert.equal(rx.received.length, 2);
    } finally {
      await rx.close();
    }
  });
});
