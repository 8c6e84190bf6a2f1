import { parse } from 'csv-parse/sync';
import { invalidInput } from '../errors';

/**
 * CSV layout for DID imports: `number,capabilities,description`, header optional. Capabilities are
 * separated by `;`, `|` or spaces inside their cell (e.g. `sms_out;sms_in`); an empty cell means
 * `sms_out`. Rows come back as attribute objects, so CSV and JSON imports share one validator.
 */
export function parseDidCsv(text: string): Array<Record<string, unknown>> {
  let records: string[][];
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, trim: true, bom: true });
  } catch (err) {
    throw invalidInput('CSV_INVALID', `The CSV could not be parsed: ${(err as Error).message}`);
  }
  let header = ['number', 'capabilities', 'description'];
  if (records.length > 0 && records[0]!.some((c) => /^(number|capabilities|description)$/i.test(c))) {
    header = records.shift()!.map((c) => c.toLowerCase());
  }
  return records.map((cells) => {
    const row: Record<string, unknown> = {};
    header.forEach((col, i) => {
      const cell = cells[i];
      if (cell === undefined || cell === '') return;
      row[col] = col === 'capabilities' ? cell.split(/[;|\s]+/).filter(Boolean) : cell;
    });
    cells.slice(header.length).forEach((extra, i) => {
      if (extra !== '') row[`column_${header.length + i + 1}`] = extra;
    });
    return row;
  });
}
