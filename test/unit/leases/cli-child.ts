/**
 * `cloudtrain <argv>` in a process of its own (no window, nothing shared with the test process but
 * the data folder and the environment). Env: CT_DATA_HOME, CT_CWD.
 */
import { main } from '../../../src/cli/main';

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.env.CT_CWD ?? process.cwd(), dataHome: process.env.CT_DATA_HOME! })
  .then((code) => process.exit(code), (e) => { process.stderr.write(String(e?.stack ?? e)); process.exit(1); });
