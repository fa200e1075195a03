/**
 * Fills `{config}`, `{dataloader}`, `{output_dir}`, `{job_id}`, `{workspace}` in a command template.
 * Values are shell-quoted so paths with spaces or quotes stay one argument.
 */
export function fillCommand(template: string, values: Record<string, string | undefined>): string {
  return template.replace(/\{([a-z_]+)\}/g, (whole, key: string) => {
    const v = values[key];
    if (v === undefined) {
      if (key in values) throw new Error(`The command uses {${key}} but no value is known for it`);
      return whole;
    }
    return shellQuote(v);
  });
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
