import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Dialect } from '../../control-plane/src/db/database';

export type DatabaseDump = Record<string, string[]>;

/** Column lists per connection: the schema does not change while a suite runs, and dumps run after every request. */
const columnCache = new WeakMap<Knex, Map<string, string[]>>();

/**
 * Every row of every table, each table ordered by all its columns, as JSON lines: a deterministic
 * picture of the database on SQLite and PostgreSQL alike, so "this request changed nothing" is a
 * plain comparison. Knex's own migration tables are included (nothing may touch them either).
 */
export async function dumpDatabase(knex: Knex, dialect: Dialect): Promise<DatabaseDump> {
  const tables: string[] =
    dialect === 'sqlite'
      ? (await knex.raw("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")).map((r: { name: string }) => r.name)
      : (await knex.raw('select tablename from pg_tables where schemaname = current_schema()')).rows.map((r: { tablename: string }) => r.tablename);
  const dump: DatabaseDump = {};
  let known = columnCache.get(knex);
  if (!known) columnCache.set(knex, (known = new Map()));
  for (const table of tables.sort()) {
    const columns = known.get(table) ?? Object.keys(await knex(table).columnInfo()).sort();
    known.set(table, columns);
    const rows = await knex(table).select(columns).orderBy(columns);
    dump[table] = rows.map((r: Record<string, unknown>) => JSON.stringify(columns.map((c) => r[c])));
  }
  return dump;
}

export const hashDump = (dump: DatabaseDump): string => crypto.createHash('sha256').update(JSON.stringify(dump)).digest('hex');

/** Names the tables whose rows differ, with the rows only one side has (a few of each). */
export function diffDumps(before: DatabaseDump, after: DatabaseDump): string[] {
  const out: string[] = [];
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = new Set(before[table] ?? []);
    const b = new Set(after[table] ?? []);
    const gone = [...a].filter((r) => !b.has(r));
    const added = [...b].filter((r) => !a.has(r));
    if (gone.length || added.length) out.push(`${table}: -${gone.length} +${added.length} ${added.slice(0, 2).join(' ')} ${gone.length ? `(was ${gone.slice(0, 2).join(' ')})` : ''}`.trim());
  }
  return out;
}
