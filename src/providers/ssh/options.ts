import * as z from 'zod';

export const TemplateIdSchema = z.enum(['simpletuner', 'accelerate', 'axolotl', 'custom']);
export type TemplateId = z.infer<typeof TemplateIdSchema>;

/**
 * `SubmitRequest.options` for the SSH provider (validated at the boundary; the UI and the CLI build it).
 * `SubmitRequest.command` is the custom command when `template` is `custom`;
 * `SubmitRequest.trainingConfigPath` / `dataloaderConfigPath` are copied into the job folder on the host.
 */
export const SshSubmitOptionsSchema = z.object({
  /** A `cloudTraining.ssh.hosts` name, a ~/.ssh/config alias, or a plain host name. */
  host: z.string().min(1),
  /** Where everything lives on the host; `~/` is the login home. */
  remoteBaseDir: z.string().min(1).default('~/cloud-training'),
  /** Names the per-workspace folder on the host (default: derived from the workspace path). */
  workspaceKey: z.string().regex(/^[\w.-]+$/).optional(),
  template: TemplateIdSchema.default('custom'),
  /** Template tokens that the template itself needs, e.g. the script for `accelerate`. */
  script: z.string().optional(),
  /** Local folders synced to `<workspace>/datasets/<id>` on the host ({dataset_dir} is the first). */
  datasets: z.array(z.object({ id: z.string().regex(/^[\w.-]+$/), path: z.string().min(1) })).default([]),
  /** A local folder (training scripts) synced to `<workspace>/code` and used as the working directory. */
  codeDir: z.string().optional(),
  extraExcludes: z.array(z.string()).default([]),
  /** Send datasets through the system `ssh` client when it logs in without a prompt (much faster); false = the built-in client only. */
  systemSsh: z.boolean().default(true),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
  /** Run inside tmux when the host has it (attachable), else setsid+nohup. */
  useTmux: z.enum(['auto', 'never']).default('auto'),
  /** Continue a failed/cancelled job: reuse its remote job folder (checkpoints) and ask the template to resume. */
  resumeFrom: z.object({ jobRoot: z.string().min(1), jobId: z.string().optional() }).optional(),
  /** Keep the job folder on the host after outputs are downloaded (needed to resume later). */
  keepJobFolder: z.boolean().default(true),
  downloadOutputs: z.boolean().default(true),
  /** Local folder for outputs (default: `<workspace>/outputs/<job id>`, else the job's data folder). */
  outputDir: z.string().optional(),
});
export type SshSubmitOptions = z.infer<typeof SshSubmitOptionsSchema>;

/** What the provider stores on the job (non-secret) to find everything again after a restart. */
export const SshJobMetadataSchema = z.object({
  host: z.string(),
  workspaceDir: z.string(),
  jobRoot: z.string(),
  runDir: z.string(),
  remoteOutputDir: z.string(),
  pgid: z.number().int().positive(),
  tmuxSession: z.string().optional(),
  template: TemplateIdSchema,
  command: z.string(),
  resumed: z.boolean().default(false),
  keepJobFolder: z.boolean().default(true),
  downloadOutputs: z.boolean().default(true),
  localOutputDir: z.string().optional(),
});
export type SshJobMetadata = z.infer<typeof SshJobMetadataSchema>;
