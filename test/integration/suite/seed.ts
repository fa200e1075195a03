/** What test/integration/run.ts wrote into CLOUD_TRAINING_HOME before VS Code started. */
export interface SeededJobs {
  succeeded: { id: string; name: string; logLine: string };
  failed: { id: string; name: string };
}

export function seededJobs(): SeededJobs {
  const raw = process.env.CT_SEEDED_JOBS;
  if (!raw) throw new Error('CT_SEEDED_JOBS is not set: run through `npm run test:vscode`');
  return JSON.parse(raw) as SeededJobs;
}
