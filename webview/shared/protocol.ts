import * as z from 'zod';
import { ConsentAnswerSchema } from '../../src/core/consent/policy';
import { ConsentSummarySchema } from '../../src/core/consent/summary';
import { CostEstimateSchema } from '../../src/core/cost/estimate';
import { JobSchema, MetricPointSchema } from '../../src/core/jobs/schema';
import { GpuSampleSchema } from '../../src/core/gpu/schema';

/**
 * The one message protocol between webview front ends and their panel hosts. Both sides validate
 * every message they receive with these schemas and drop (and log) anything that does not fit.
 *
 *  webview → host: `ready` (the page listens now; nothing is posted before it), `request` (with an id,
 *                  answered by exactly one `reply`), `log` (errors inside the page, for the host's log).
 *  host → webview: `init` (the view's data, sent in answer to `ready`), `update` (new data for a live
 *                  view), `reply` (to a request id: ok+result or an error message).
 */

export const ViewKindSchema = z.enum(['consent', 'cost', 'job']);
export type ViewKind = z.infer<typeof ViewKindSchema>;

// ---- view data --------------------------------------------------------------------------------------

export const ConsentViewDataSchema = z.object({
  summary: ConsentSummarySchema,
  /** False when there is no workspace to remember the choice for. */
  canAlwaysAllow: z.boolean(),
});
export type ConsentViewData = z.infer<typeof ConsentViewDataSchema>;

const SpendSchema = z.object({
  day: z.number(),
  month: z.number(),
  byProvider: z.record(z.string(), z.object({ day: z.number(), month: z.number() })),
});

export const CostViewDataSchema = z.object({
  estimate: CostEstimateSchema,
  spend: SpendSchema,
  limits: z.object({
    ok: z.boolean(),
    message: z.string(),
    /** The limits that apply to this provider, for display ("$4.00 of $10.00 today"). */
    applicable: z.array(z.object({ label: z.string(), limit: z.number(), spent: z.number() })),
  }),
  /** confirm: buttons Submit/Cancel during a submission; info: the estimate only. */
  mode: z.enum(['confirm', 'info']),
  /** Managed fine-tunes (Together, Fireworks): priced per token, not per hour; the page shows this instead. */
  finetune: z.object({
    model: z.string(),
    /** e.g. "up to 16B" */
    band: z.string().optional(),
    /** sft-lora | sft-full | dpo-lora | dpo-full */
    rateKey: z.string(),
    epochs: z.number().int().positive(),
    files: z.array(z.object({ role: z.enum(['training', 'validation']), name: z.string(), examples: z.number().int().nonnegative(), tokens: z.number().int().nonnegative() })),
    tokensExact: z.boolean(),
    tokenMethod: z.string(),
    billedTokens: z.number().nonnegative(),
    /** USD per 1M tokens; null = no published price found (the cost is unknown, never $0). */
    pricePerMillion: z.number().nonnegative().nullable(),
    cost: z.number().nonnegative().nullable(),
    checkedAt: z.string(),
    source: z.string(),
    assumptions: z.array(z.string()),
    /** How an unknown price is still checked against the limits (a provider that prices after the upload). */
    priceCheck: z.string().optional(),
  }).optional(),
});
export type CostViewData = z.infer<typeof CostViewDataSchema>;

export const JobViewDataSchema = z.object({
  job: JobSchema,
  /** Host clock (ISO) so elapsed times agree with the tree. */
  now: z.string(),
  canCancel: z.boolean(),
  /** Loss/lr points from the metrics sidecar (thinned); `t` puts them on the GPU chart's time axis. */
  metrics: z.array(MetricPointSchema).default([]),
  /** GPU samples (SSH and local jobs) from the same sidecar. */
  gpu: z.array(GpuSampleSchema).default([]),
});
export type JobViewData = z.infer<typeof JobViewDataSchema>;

export const ViewDataSchemas = {
  consent: ConsentViewDataSchema,
  cost: CostViewDataSchema,
  job: JobViewDataSchema,
} as const;
export type ViewData = { consent: ConsentViewData; cost: CostViewData; job: JobViewData };

// ---- requests (webview → host, answered by a reply) ---------------------------------------------------

export const RequestSchemas = {
  'consent.answer': { params: z.object({ answer: ConsentAnswerSchema }), result: z.object({ accepted: z.boolean() }) },
  'cost.confirm': { params: z.object({ proceed: z.boolean() }), result: z.object({ accepted: z.boolean() }) },
  'job.showLogs': { params: z.object({ jobId: z.string() }), result: z.object({}) },
  'job.cancel': { params: z.object({ jobId: z.string() }), result: z.object({ status: z.string() }) },
  'job.openOutput': { params: z.object({ jobId: z.string(), uri: z.string() }), result: z.object({}) },
} as const;
export type RequestMethod = keyof typeof RequestSchemas;
export type RequestParams<M extends RequestMethod> = z.infer<(typeof RequestSchemas)[M]['params']>;
export type RequestResult<M extends RequestMethod> = z.infer<(typeof RequestSchemas)[M]['result']>;
const METHODS = Object.keys(RequestSchemas) as [RequestMethod, ...RequestMethod[]];

// ---- envelopes ---------------------------------------------------------------------------------------

const RequestId = z.number().int().nonnegative();

export const WebviewMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), view: ViewKindSchema }),
  z.object({ type: z.literal('request'), id: RequestId, method: z.enum(METHODS), params: z.unknown() }),
  z.object({ type: z.literal('log'), level: z.enum(['info', 'warn', 'error']), message: z.string().max(4000) }),
]);
export type WebviewMessage = z.infer<typeof WebviewMessageSchema>;

const ReplySchema = z.discriminatedUnion('ok', [
  z.object({ type: z.literal('reply'), id: RequestId, ok: z.literal(true), result: z.unknown() }),
  z.object({ type: z.literal('reply'), id: RequestId, ok: z.literal(false), error: z.string() }),
]);
export const HostMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('init'), view: ViewKindSchema, data: z.unknown() }),
  z.object({ type: z.literal('update'), view: ViewKindSchema, data: z.unknown() }),
  ReplySchema,
]);
export type HostMessage = z.infer<typeof HostMessageSchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

function describe(error: z.ZodError): string {
  const i = error.issues[0];
  return i ? `${i.path.length ? i.path.join('.') : '(message)'}: ${i.message}` : 'invalid';
}

/** Host side: validate what a webview posted (envelope, and a request's params for its method). */
export function parseWebviewMessage(raw: unknown): Parsed<WebviewMessage> {
  const env = WebviewMessageSchema.safeParse(raw);
  if (!env.success) return { ok: false, reason: `bad message from webview: ${describe(env.error)}` };
  if (env.data.type === 'request') {
    const params = RequestSchemas[env.data.method].params.safeParse(env.data.params);
    if (!params.success) return { ok: false, reason: `bad params for ${env.data.method} (request ${env.data.id}): ${describe(params.error)}` };
    return { ok: true, value: { ...env.data, params: params.data } };
  }
  return { ok: true, value: env.data };
}

/** Webview side: validate what the host posted, including the view data for `init`/`update`. */
export function parseHostMessage(raw: unknown, expectedView: ViewKind): Parsed<HostMessage> {
  const env = HostMessageSchema.safeParse(raw);
  if (!env.success) return { ok: false, reason: `bad message from host: ${describe(env.error)}` };
  const m = env.data;
  if (m.type === 'init' || m.type === 'update') {
    if (m.view !== expectedView) return { ok: false, reason: `${m.type} for view "${m.view}" sent to the ${expectedView} view` };
    const data = ViewDataSchemas[expectedView].safeParse(m.data);
    if (!data.success) return { ok: false, reason: `bad ${expectedView} data in ${m.type}: ${describe(data.error)}` };
    return { ok: true, value: { ...m, data: data.data } };
  }
  return { ok: true, value: m };
}

/** Validate a request's result on the webview side before handing it to the view. */
export function parseResult<M extends RequestMethod>(method: M, raw: unknown): Parsed<RequestResult<M>> {
  const r = RequestSchemas[method].result.safeParse(raw);
  return r.success ? { ok: true, value: r.data as RequestResult<M> } : { ok: false, reason: `bad result for ${method}: ${describe(r.error)}` };
}
