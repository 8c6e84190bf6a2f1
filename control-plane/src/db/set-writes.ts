import { Knex } from 'knex';
import { runsSideBySide, SharedColumns, sqliteInsert } from './database';

/**
 * Helpers for writing a whole group-commit batch in a few statements instead of one per row: on
 * SQLite's single connection every statement is a round trip to the driver's thread, so the
 * per-row form caps the pipeline at a few thousand statements a second.
 */

/** Rows (or ids) per statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters. */
export const SET_CHUNK = 400;

/**
 * `CASE id WHEN … THEN … END` for a per-row text value in a set-wise UPDATE. Text only: PostgreSQL
 * types the THEN parameters as text, which an integer column would refuse.
 */
export function caseById(trx: Knex | Knex.Transaction, pairs: ReadonlyArray<readonly [string, string]>): Knex.Raw {
  return trx.raw(`CASE id ${pairs.map(() => 'WHEN ? THEN ?').join(' ')} END`, pairs.flat());
}

export function groupBy<T>(items: Iterable<T>, keyOf: (t: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const t of items) {
    const k = keyOf(t);
    const g = groups.get(k);
    if (g) g.push(t);
    else groups.set(k, [t]);
  }
  return groups;
}

export function chunks<T>(items: readonly T[], size = SET_CHUNK): T[][] {
  const out: T[][] = [];
  for (let c = 0; c < items.length; c += size) out.push(items.slice(c, c + size));
  return out;
}

/** A statement not started yet (see together). */
export type Statement = () => PromiseLike<unknown>;

/**
 * Runs statements of one transaction that do not depend on each other. On SQLite they start side
 * by side and queue on the driver's thread back to back, instead of costing an event-loop round
 * trip each; every one is waited for before a failure is thrown, so none is still running when the
 * transaction rolls back. PostgreSQL's client takes one query at a time: there they run in turn.
 */
export async function together(trx: Knex.Transaction, statements: ReadonlyArray<Statement>): Promise<void> {
  if (!runsSideBySide(trx)) {
    for (const s of statements) await s();
    return;
  }
  const settled = await Promise.allSettled(statements.map((s) => s()));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Multi-row INSERTs of objects (see insertValues), for together(). */
export function insertChunks(trx: Knex.Transaction, table: string, rows: ReadonlyArray<Record<string, unknown>>): Statement[] {
  if (rows.length === 0) return [];
  const columns = new Set<string>();
  for (const r of rows) for (const k in r) columns.add(k);
  const list = [...columns];
  return insertValues(trx, table, list, rows.map((r) => list.map((c) => r[c])));
}

/** Bind parameters per multi-row INSERT: well under SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_PARAMS = 12_000;
const insertSql = new Map<string, string>();

/**
 * Multi-row INSERTs of positional rows (`columns` order), for together():
 * written as SQL directly instead of through knex's insert builder, which normalises, sorts and
 * quotes every row's keys and cost more CPU than the database on the send path. Table and column
 * names are the code's own (never input); `undefined` is written as NULL. `shared` columns take
 * the same value in every row.
 */
export function insertValues(trx: Knex.Transaction, table: string, columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>, shared?: SharedColumns): Statement[] {
  const out: Statement[] = [];
  if (rows.length === 0) return out;
  const sqlite = sqliteInsert(trx, table, columns, rows, shared);
  if (sqlite) return [sqlite];
  if (shared) {
    columns = [...columns, ...shared.columns];
    rows = rows.map((r) => [...r, ...shared.values]);
  }
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / columns.length));
  for (let c = 0; c < rows.length; c += perStatement) {
    const chunk = rows.slice(c, c + perStatement);
    const key = `${table}\0${columns.join(',')}\0${chunk.length}`;
    let sql = insertSql.get(key);
    if (sql === undefined) {
      const row = `(${columns.map(() => '?').join(', ')})`;
      sql = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${Array.from({ length: chunk.length }, () => row).join(', ')}`;
      if (insertSql.size > 2000) insertSql.clear();
      insertSql.set(key, sql);
    }
    const params: unknown[] = [];
    for (const r of chunk) for (const v of r) params.push(v === undefined ? null : v);
    const text = sql;
    out.push(() => trx.raw(text, params as Knex.RawBinding[]));
  }
  return out;
}
