/**
 * The minimal streaming JSONL check the stand-in servers run on an uploaded fine-tune dataset, fed
 * chunk by chunk (constant memory). It checks what both providers document they check on upload:
 * every non-empty line is a JSON object in one of the accepted shapes. It is deliberately not our
 * own dataset validator (src/core/finetune/), so a bug there cannot hide here.
 *
 * - Together, "Data formats" (https://docs.together.ai/docs/fine-tuning-data-preparation): conversational
 *   `{"messages": [{role, content}]}`, instruction `{"prompt", "completion"}`, generic `{"text"}`,
 *   preference `{"input": {"messages"}, "preferred_output", "non_preferred_output"}`.
 * - Fireworks, "Prepare a dataset" (https://docs.fireworks.ai/fine-tuning/fine-tuning-models): each line a
 *   `messages` array of {role: system|user|assistant, content}; at least 3 examples.
 */
export type Shape = 'conversation' | 'instruction' | 'text' | 'preference';

export interface JsonlReport { lines: number; examples: number; shapes: Set<Shape>; error?: string }

export class JsonlChecker {
  private tail = '';
  private readonly decoder = new TextDecoder('utf-8');
  readonly report: JsonlReport = { lines: 0, examples: 0, shapes: new Set() };

  constructor(private readonly accept: readonly Shape[], private readonly roles: readonly string[] = ['system', 'user', 'assistant', 'tool']) {}

  feed(chunk: Buffer): void {
    const text = this.tail + this.decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    this.tail = lines.pop() ?? '';
    for (const l of lines) this.line(l);
  }

  end(): JsonlReport {
    const rest = this.tail + this.decoder.decode();
    if (rest.length) this.line(rest);
    this.tail = '';
    return this.report;
  }

  private line(raw: string): void {
    this.report.lines++;
    if (this.report.error) return;
    const line = raw.replace(/\r$/, '');
    if (!line.trim()) return;
    const n = this.report.lines;
    let v: unknown;
    try { v = JSON.parse(line); } catch { this.report.error = `line ${n}: not valid JSON`; return; }
    const shape = this.shapeOf(v);
    if (!shape) { this.report.error = `line ${n}: not one of the accepted formats (${this.accept.join(', ')})`; return; }
    if (typeof shape === 'object') { this.report.error = `line ${n}: ${shape.error}`; return; }
    this.report.shapes.add(shape);
    if (this.report.shapes.size > 1) { this.report.error = `line ${n}: mixes formats (${[...this.report.shapes].join(', ')})`; return; }
    this.report.examples++;
  }

  private shapeOf(v: unknown): Shape | { error: string } | undefined {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const o = v as Record<string, unknown>;
    if (this.accept.includes('conversation') && 'messages' in o) {
      if (!Array.isArray(o.messages) || o.messages.length === 0) return { error: '"messages" must be a non-empty array' };
      for (const m of o.messages as unknown[]) {
        const msg = m as Record<string, unknown>;
        if (typeof msg !== 'object' || msg === null || typeof msg.role !== 'string' || !this.roles.includes(msg.role)) return { error: `a message has an invalid role (allowed: ${this.roles.join(', ')})` };
        if (typeof msg.content !== 'string') return { error: 'a message has no string "content"' };
      }
      return 'conversation';
    }
    if (this.accept.includes('preference') && 'preferred_output' in o) return 'preference';
    if (this.accept.includes('instruction') && typeof o.prompt === 'string' && typeof o.completion === 'string') return 'instruction';
    if (this.accept.includes('text') && typeof o.text === 'string') return 'text';
    return undefined;
  }
}
