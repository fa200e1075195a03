import { shellQuote } from './remote-shell';
import type { TemplateId } from './options';

/**
 * Training command templates. Tokens in `{braces}` are filled with shell-quoted host paths
 * ({config}, {dataloader}, {output_dir}, {dataset_dir}, {datasets_dir}, {code_dir}, {job_dir},
 * {job_id}, {script}); `{resume}` becomes the template's own "continue from the last checkpoint"
 * arguments on a resumed run and nothing otherwise.
 */
export interface CommandTemplate {
  id: TemplateId;
  label: string;
  command: string;
  /** Appended in place of {resume} when resuming (raw shell, tokens filled too). */
  resume: string;
  detail: string;
}

/** The newest `checkpoint-*` folder under the output folder, for tools that want a path rather than "latest". */
const LATEST_CHECKPOINT = `"$(ls -d {output_dir}/checkpoint-* 2>/dev/null | sort -V | tail -n 1)"`;

export const TEMPLATES: Record<TemplateId, CommandTemplate> = {
  simpletuner: {
    id: 'simpletuner',
    label: 'SimpleTuner',
    command: 'CONFIG_BACKEND=json CONFIG_PATH={config} simpletuner train --data_backend_config={dataloader} --output_dir={output_dir}{resume}',
    resume: ' --resume_from_checkpoint=latest',
    detail: 'SimpleTuner with the workspace config.json and the rewritten multidatabackend.json',
  },
  accelerate: {
    id: 'accelerate',
    label: 'accelerate / transformers',
    command: 'accelerate launch {script} --config {config} --output_dir {output_dir}{resume}',
    resume: ` --resume_from_checkpoint ${LATEST_CHECKPOINT}`,
    detail: 'accelerate launch <script>; resumes from the newest checkpoint-* folder (HF Trainer layout)',
  },
  axolotl: {
    id: 'axolotl',
    label: 'axolotl',
    command: 'accelerate launch -m axolotl.cli.train {config} --output_dir={output_dir}{resume}',
    resume: ' --auto_resume_from_checkpoints=True',
    detail: 'axolotl with the workspace YAML config',
  },
  custom: {
    id: 'custom',
    label: 'Custom command',
    command: '{command}',
    resume: ' --resume_from_checkpoint=latest',
    detail: 'Your own command; {resume} expands to --resume_from_checkpoint=latest on a resumed run',
  },
};

export interface TemplateValues {
  config?: string;
  dataloader?: string;
  output_dir: string;
  job_dir: string;
  job_id: string;
  dataset_dir?: string;
  datasets_dir?: string;
  code_dir?: string;
  script?: string;
}

export function buildCommand(id: TemplateId, values: TemplateValues, opts: { custom?: string; resume: boolean }): string {
  const t = TEMPLATES[id];
  let template = t.command;
  if (id === 'custom') {
    if (!opts.custom?.trim()) throw new Error('The custom template needs a command (e.g. "python3 train.py --config {config} --output_dir {output_dir}")');
    template = opts.custom;
  }
  const withResume = template.replace(/\{resume\}/g, opts.resume ? t.resume : '');
  return withResume.replace(/\{([a-z_]+)\}/g, (whole, key: string) => {
    if (key === 'command') return whole;
    if (!(key in values) && !['config', 'dataloader', 'dataset_dir', 'datasets_dir', 'code_dir', 'script'].includes(key)) return whole;
    const v = (values as unknown as Record<string, string | undefined>)[key];
    if (v === undefined) throw new Error(`The ${t.label} command uses {${key}} but this job has no ${key.replace(/_/g, ' ')}`);
    return shellQuote(v);
  });
}
