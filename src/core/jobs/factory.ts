import path from 'node:path';
import { newJobId } from './ids';
import { Job, JobSchema, ProviderId } from './schema';
import { logPathFor } from '../logs/mirror';
import type { DataLayout } from '../paths';

export interface NewJobInput {
  provider: ProviderId;
  name?: string;
  hardware?: string;
  workspace?: string;
  trainingConfig?: string;
  dataloaderConfig?: string;
  submission?: Record<string, unknown>;
}

/** A fresh job record in state `uploading` (nothing has reached the provider yet). */
export function newJob(layout: DataLayout, input: NewJobInput, now = new Date()): Job {
  const id = newJobId(now.getTime());
  const base = input.trainingConfig ?? input.dataloaderConfig;
  // "simpletuner-demo · config.json": the workspace tells jobs apart better than "config/config.json".
  const folder = input.workspace ?? (base ? path.dirname(path.dirname(base)) : undefined);
  const name = input.name ?? (base ? `${path.basename(folder!)} · ${path.basename(base)}` : id);
  return JobSchema.parse({
    id,
    name,
    provider: input.provider,
    hardware: input.hardware,
    status: 'uploading',
    workspace: input.workspace,
    configPaths: { training: input.trainingConfig, dataloader: input.dataloaderConfig },
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    logPath: logPathFor(layout.logsDir, id),
    submission: input.submission,
  });
}
