/** Aligned columns separated by two spaces; the last column is not padded so lines carry no trailing blanks. */
export function formatTable(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

/** `key:  value` lines with the values aligned, for one resource. */
export function formatFields(pairs: Array<[string, string]>): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`);
}

/** Null and empty lists show as "-" so every column has something to read. */
export function show(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.length ? value.map(String).join(', ') : '-';
  return String(value);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** One line for an upsert: created, updated or unchanged, with the id and version. */
export function applyReport(kind: string, name: string, doc: any): string {
  const m = doc.meta ?? {};
  const outcome = m.created ? 'created' : m.changed ? 'updated' : 'unchanged';
  return `${kind} ${JSON.stringify(name)}: ${outcome} (id ${doc.data.id}, version ${m.version ?? doc.data.attributes.version})`;
}
