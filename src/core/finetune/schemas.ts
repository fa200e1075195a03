import * as z from 'zod';

/*
 * Record shapes of the fine-tune JSONL formats both managed providers accept.
 * - Together AI, "Data preparation" (https://docs.together.ai/docs/fine-tuning/data-preparation):
 *   conversational `{"messages":[{role, content}]}` with roles system/user/assistant, starting with
 *   system or user; instruction `{"prompt","completion"}`; preference (DPO) `{"input":{"messages"},
 *   "preferred_output","non_preferred_output"}`; generic `{"text"}`; a file mixing two formats is rejected.
 *   Tool calls: "Function-calling fine-tuning" (https://docs.together.ai/docs/fine-tuning-function-calling)
 *   adds `tool` messages and assistant `tool_calls`.
 * - Fireworks, "Supervised Fine Tuning - Text" (https://docs.fireworks.ai/fine-tuning/fine-tuning-models):
 *   the OpenAI-compatible chat format, each sample a `messages` array whose roles are system, user or
 *   assistant (tool calls in the OpenAI shape); DPO uses the same preference shape.
 * The hot path (fast-check.ts) mirrors these schemas by hand; they produce the precise message for a
 * failing line and are the source of the types.
 */

export const KNOWN_ROLES = ['system', 'user', 'assistant', 'tool'] as const;
export const RoleSchema = z.enum(KNOWN_ROLES);
export type Role = z.infer<typeof RoleSchema>;

/** A custom issue carries our diagnostic code so the message and the code agree. */
const issue = (ctx: z.RefinementCtx, code: string, message: string, path: (string | number)[]) =>
  ctx.addIssue({ code: 'custom', message, path, params: { code } });

export const MessageSchema = z.object({
  role: z.string(),
  // null is allowed for an assistant turn that only calls tools (OpenAI shape).
  content: z.union([z.string(), z.null()]).optional(),
  tool_calls: z.array(z.unknown()).optional(),
  name: z.string().optional(),
  tool_call_id: z.string().optional(),
}).superRefine((m, ctx) => {
  if (!(KNOWN_ROLES as readonly string[]).includes(m.role)) {
    issue(ctx, 'unknown-role', `unknown role "${m.role}" (expected ${KNOWN_ROLES.join(', ')})`, ['role']);
  }
  const text = typeof m.content === 'string' ? m.content : '';
  const toolCalls = (m.tool_calls?.length ?? 0) > 0;
  if (m.role === 'assistant' && !toolCalls && text.trim() === '') issue(ctx, 'empty-assistant', 'empty assistant turn', ['content']);
  else if (m.role !== 'assistant' && typeof m.content !== 'string') issue(ctx, 'invalid-field', 'content must be a string', ['content']);
});
export type ChatMessage = z.infer<typeof MessageSchema>;

function conversationRules(messages: ChatMessage[], ctx: z.RefinementCtx, base: (string | number)[], lastMustBe: Role) {
  if (messages.length === 0) return issue(ctx, 'invalid-field', 'messages must not be empty', base);
  const first = messages[0]!.role;
  // An unknown first role is already reported by the message schema.
  if (first !== 'system' && first !== 'user' && (KNOWN_ROLES as readonly string[]).includes(first)) issue(ctx, 'bad-first-role', `conversation starts with "${first}" (must start with system or user)`, [...base, 0, 'role']);
  const lastIndex = messages.length - 1;
  const last = messages[lastIndex]!.role;
  if (last !== lastMustBe) issue(ctx, lastMustBe === 'assistant' ? 'last-not-assistant' : 'last-not-user', `last message is "${last}", must be ${lastMustBe}`, [...base, lastIndex, 'role']);
}

export const ChatRecordSchema = z.object({ messages: z.array(MessageSchema) })
  .superRefine((r, ctx) => conversationRules(r.messages, ctx, ['messages'], 'assistant'));
export type ChatRecord = z.infer<typeof ChatRecordSchema>;

export const InstructionRecordSchema = z.object({ prompt: z.string(), completion: z.string() })
  .superRefine((r, ctx) => {
    if (r.completion.trim() === '') issue(ctx, 'empty-completion', 'empty completion', ['completion']);
  });
export type InstructionRecord = z.infer<typeof InstructionRecordSchema>;

const outputList = z.array(MessageSchema).superRefine((msgs, ctx) => {
  if (msgs.length === 0) issue(ctx, 'invalid-field', 'must hold at least one assistant message', []);
  msgs.forEach((m, i) => { if (m.role !== 'assistant') issue(ctx, 'invalid-field', `role must be assistant, got "${m.role}"`, [i, 'role']); });
});

export const PreferenceRecordSchema = z.object({
  input: z.object({ messages: z.array(MessageSchema) }),
  preferred_output: outputList,
  non_preferred_output: outputList,
}).superRefine((r, ctx) => conversationRules(r.input.messages, ctx, ['input', 'messages'], 'user'));
export type PreferenceRecord = z.infer<typeof PreferenceRecordSchema>;

export const TextRecordSchema = z.object({ text: z.string().min(1, 'empty text') });
export type TextRecord = z.infer<typeof TextRecordSchema>;

export const DATASET_FORMATS = ['chat', 'instruction', 'preference', 'text'] as const;
export const DatasetFormatSchema = z.enum(DATASET_FORMATS);
export type DatasetFormat = z.infer<typeof DatasetFormatSchema>;

export const RECORD_SCHEMAS = {
  chat: ChatRecordSchema,
  instruction: InstructionRecordSchema,
  preference: PreferenceRecordSchema,
  text: TextRecordSchema,
} as const;

export const DatasetDiagnosticSchema = z.object({
  severity: z.enum(['error', 'warning']),
  /** 1-based line in the file. */
  line: z.number().int().positive(),
  /** 1-based column, when known (invalid JSON). */
  column: z.number().int().positive().optional(),
  /** Field path in the record, e.g. `messages[2].role`. */
  field: z.string().optional(),
  code: z.string(),
  message: z.string(),
});
export type DatasetDiagnostic = z.infer<typeof DatasetDiagnosticSchema>;
