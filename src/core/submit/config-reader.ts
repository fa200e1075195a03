import * as z from 'zod';
import { loadTrainingConfig } from '../config/training';
import type { ConfigReader, TrainingConfigInfo } from './steps';

const PositiveNumber = z.coerce.number().positive();

/**
 * The few keys a submission needs from a SimpleTuner training config (json/toml/env, keys with or
 * without `--`), read through the config module so paths resolve exactly as packaging resolves them.
 * Config errors stop the submission at the "config" step with the file's own diagnostic.
 */
export function trainingConfigReader(workspaceRoot?: string): ConfigReader {
  return {
    async read(configPath: string): Promise<TrainingConfigInfo> {
      const cfg = await loadTrainingConfig(configPath, workspaceRoot);
      const error = cfg.diagnostics.find((d) => d.severity === 'error');
      if (error) throw new Error(`${cfg.path}: ${error.message}`);
      const num = (k: string) => {
        const r = PositiveNumber.safeParse(cfg.values[k]);
        return r.success ? r.data : undefined;
      };
      const out = cfg.values.output_dir;
      return {
        maxTrainSteps: num('max_train_steps'),
        numTrainEpochs: num('num_train_epochs'),
        dataloaderPath: cfg.dataloaderPath,
        outputDir: typeof out === 'string' ? out : undefined,
      };
    },
  };
}

/** Default reader (relative paths resolved from the folder holding `config/`). */
export const simpleConfigReader: ConfigReader = trainingConfigReader();
