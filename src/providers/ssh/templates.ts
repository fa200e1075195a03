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
    // `simpletuner train` (SimpleTuner ≥ 2, pip) parses its own options strictly and, with a JSON
    // config, reads training options from the config file only; so the dataloader, output folder and
    // resume point are written into the uploaded config.json (simpleTunerConfig), not passed as flags.
    // `--env=<config path>` makes it use CONFIG_PATH instead of looking for ./config.json.
    command: 'CONFIG_BACKEND=json CONFIG_PATH={config} simpletuner train --env={config}',
    resume: '',
    detail: 'SimpleTuner (pip, `simpletuner train`) with the workspace config.json; dataloader, output folder and resume are set inside the uploaded copy',
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

/**
 * The SimpleTuner config.json as uploaded: the user's options with the host's dataloader config,
 * output folder and (when resuming) `resume_from_checkpoint: latest`. SimpleTuner accepts keys
 * with or without the leading `--`; an existing key keeps its spelling.
 */
export function simpleTunerConfig(raw: string, file: string, set: { dataloader?: string; outputDir: string; resume: boolean }): string {
  let config: unknown;
  try {
    config = JSON.parse(raw);
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}). The SimpleTuner template needs SimpleTuner's config.json; use the custom template for TOML or env configs.`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    throw new Error(`${file} must be a JSON object of SimpleTuner options (e.g. {"--model_family": "flux", ...}).`);
  }
  const out = { ...(config as Record<string, unknown>) };
  const put = (name: string, value: string) => {
    const key = `--${name}` in out ? `--${name}` : name in out ? name : `--${name}`;
    out[key] = value;
  };
  if (set.dataloader) put('data_backend_config', set.dataloader);
  put('output_dir', set.outputDir);
  if (set.resume) put('resume_from_checkpoint', 'latest');
  return `${JSON.stringify(out, null, 2)}\n`;
}
