/** Cog-style openapi_schema documents for the fake models (same layout Replicate serves). */

const secret = (title: string) => ({ type: 'string', title, format: 'password', 'x-cog-secret': true, writeOnly: true });

/**
 * SimpleTuner's predict.py (bghira/SimpleTuner @ bc8e6ab7, `Predictor.predict`) as a current Cog
 * renders it: inputs typed without `Optional[...]` are required even with `default=None` (only
 * Optional ones are nullable and left out of `required`: replicate/cog#2258, #3051) — images,
 * config_json, dataloader_json, max_train_steps, hf_token, lycoris_config. `return_logs` has a default.
 */
export const COG_REQUIRED_TRAINER_INPUTS = ['images', 'config_json', 'dataloader_json', 'max_train_steps', 'hf_token', 'lycoris_config'];

export function trainerSchema(extra: { required?: string[]; properties?: Record<string, unknown> } = {}) {
  return {
    openapi: '3.0.2',
    info: { title: 'Cog', version: '0.1.0' },
    components: {
      schemas: {
        Input: {
          type: 'object',
          title: 'Input',
          required: extra.required ?? COG_REQUIRED_TRAINER_INPUTS,
          properties: {
            images: { type: 'string', title: 'Images', format: 'uri', 'x-order': 0, description: 'Zip or tar archive of training images.' },
            config_json: { type: 'string', title: 'Config Json', 'x-order': 1 },
            dataloader_json: { type: 'string', title: 'Dataloader Json', 'x-order': 2 },
            max_train_steps: { type: 'integer', title: 'Max Train Steps', 'x-order': 3 },
            s3_bucket: { type: 'string', title: 'S3 Bucket', nullable: true, 'x-order': 4 },
            s3_region: { type: 'string', title: 'S3 Region', nullable: true, 'x-order': 5 },
            s3_endpoint_url: { type: 'string', title: 'S3 Endpoint Url', nullable: true, 'x-order': 6 },
            s3_base_path: { type: 'string', title: 'S3 Base Path', nullable: true, 'x-order': 7 },
            s3_public_base_url: { type: 'string', title: 'S3 Public Base Url', nullable: true, 'x-order': 8 },
            s3_access_key: { ...secret('S3 Access Key'), nullable: true, 'x-order': 9 },
            s3_secret_key: { ...secret('S3 Secret Key'), nullable: true, 'x-order': 10 },
            hub_model_id: { type: 'string', title: 'Hub Model Id', nullable: true, 'x-order': 11 },
            hf_token: { ...secret('Hf Token'), 'x-order': 12 },
            lycoris_config: { type: 'string', title: 'Lycoris Config', 'x-order': 13 },
            return_logs: { type: 'boolean', title: 'Return Logs', default: true, 'x-order': 14 },
            ...extra.properties,
          },
        },
        Output: { type: 'string', title: 'Output' },
        Status: { type: 'string', title: 'Status', enum: ['starting', 'processing', 'succeeded', 'canceled', 'failed'] },
      },
    },
  };
}

export function trainableSchema(required: string[] = ['input_images']) {
  return {
    openapi: '3.0.2',
    info: { title: 'Cog', version: '0.1.0' },
    components: {
      schemas: {
        Input: { type: 'object', title: 'Input', properties: { prompt: { type: 'string', title: 'Prompt' } } },
        TrainingInput: {
          type: 'object',
          title: 'TrainingInput',
          required,
          properties: {
            input_images: { type: 'string', title: 'Input Images', format: 'uri' },
            trigger_word: { type: 'string', title: 'Trigger Word', default: 'TOK' },
            steps: { type: 'integer', title: 'Steps', minimum: 3, maximum: 6000, default: 1000 },
            lora_rank: { allOf: [{ $ref: '#/components/schemas/lora_rank' }], default: 16 },
          },
        },
        lora_rank: { title: 'lora_rank', description: 'An enumeration.', enum: [4, 8, 16, 32], type: 'integer' },
        TrainingOutput: { type: 'object', title: 'TrainingOutput', required: ['weights'], properties: { weights: { type: 'string', format: 'uri' } } },
      },
    },
  };
}
