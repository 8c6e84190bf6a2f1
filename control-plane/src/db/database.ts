import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { migrationSource } from './migrations';
import { DurableSqliteClient, execute, executeEach, initConnection, SqliteConnection } from './sqlite-client';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  knex: Knex;
  dialect: Dialect;
  close(): Promise<void>;
}

/** The only place that branches on the database kind. */
export async function openDatabase(url: string, opts: { migrate?: boolean; checkpoints?: 'thread' | 'inline' } = {}): Promise<Database> {
  let knex: Knex;
  let dialect: Dialect;
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    dialect = 'postgres';
    knex = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 10 } });
  } else {
    dialect = 'sqlite';
    const file = url.replace(/^sqlite:\/\//, '');
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    knex = knexFactory({
      // better-sqlite3, synchronous, with a commit's fdatasync off the main thread (see sqlite-client.ts).
      client: DurableSqliteClient as unknown as typeof Knex.Client,
      connection: { filename: file },
      useNullAsDefault: true,
      // One connection: SQLite has one writer anyway, and a single connection makes every
      // transaction strictly serial, so there is no SQLITE_BUSY under load.
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
          try {
            initConnection(conn, file, opts.checkpoints);
            done(null, conn);
          } catch (err) {
            done(err as Error, conn);
          }
        },
      },
    });
  }
  if (opts.migrate ?? true) await knex.migrate.latest({ migrationSource });
  return { knex, dialect, close: () => knex.destroy() };
}

/**
 * Serializes the transactions that take the same `name` from here until they end; true when a lock
 * was taken. On PostgreSQL two transactions under READ COMMITTED can each miss the other's
 * uncommitted rows (a receipt parked while its message's parts are being written, see
 * MessageStore); SQLite runs one transaction at a time already, so there it is a no-op (false).
 */
export async function lockTransaction(trx: Knex.Transaction, name: string): Promise<boolean> {
  if (onSqlite(trx)) return false;
  await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [name]);
  return true;
}

/** Maps a driver's unique-violation error to a boolean, portable across sqlite and pg. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || (/^SQLITE_CONSTRAINT/.test(e?.code ?? '') && /UNIQUE/i.test(e.message ?? ''));
}

export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23503' || (/^SQLITE_CONSTRAINT/.test(e?.code ?? '') && /FOREIGN KEY/i.test(e.message ?? ''));
}

/** Timestamps are stored as ISO-8601 UTC strings: sortable and identical on both databases. */
export const nowIso = (): string => new Date().toISOString();

/** Whether statements of one transaction may be issued without waiting for each other (see together): on SQLite. */
export function runsSideBySide(trx: Knex.Transaction): boolean {
  return onSqlite(trx);
}

/** Whether a transaction runs on the embedded SQLite database. */
export function onSqlite(trx: Knex | Knex.Transaction): boolean {
  return trx.client.config.client !== 'pg';
}

/**
 * Runs one statement of a SQLite transaction on the transaction's connection through a statement
 * prepared once per connection for that SQL text, and resolves with its rows (RETURNING rows for
 * writes).
 *
 * The hot statements of the send path have fixed SQL on SQLite (their rows travel as one JSON
 * parameter), so each is prepared once instead of per call, and bypasses knex's query compiler.
 */
export async function sqliteRows<T = Record<string, unknown>>(trx: Knex.Transaction, sql: string, params: readonly unknown[]): Promise<T[]> {
  const conn = (await (trx.client as unknown as { acquireConnection(): Promise<SqliteConnection> }).acquireConnection()) as SqliteConnection;
  return execute(conn, sql, params).rows as T[];
}

const insertRowSql = new Map<string, string>();

/** Column values every row of a multi-row INSERT shares (a bulk send's trunk, sender and text). */
export interface SharedColumns {
  columns: readonly string[];
  values: readonly unknown[];
}

/**
 * On SQLite, a multi-row INSERT as one prepared single-row INSERT run per row, its shared columns
 * bound first each time (see executeEach). Undefined on PostgreSQL, where a multi-row VALUES list
 * saves a round trip per row; callers bind the values there.
 */
export function sqliteInsert(trx: Knex.Transaction, table: string, columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>, shared?: SharedColumns): (() => Promise<unknown>) | undefined {
  if (!onSqlite(trx)) return undefined;
  const fixed = shared?.columns ?? [];
  const key = `${table}\0${fixed.join(',')}\0${columns.join(',')}`;
  let sql = insertRowSql.get(key);
  if (sql === undefined) {
    const names = [...fixed, ...columns];
    sql = `insert into "${table}" (${names.map((c) => `"${c}"`).join(', ')}) values (${names.map(() => '?').join(', ')})`;
    if (insertRowSql.size > 2000) insertRowSql.clear();
    insertRowSql.set(key, sql);
  }
  const text = sql;
  return async () => {
    const conn = (await (trx.client as unknown as { acquireConnection(): Promise<SqliteConnection> }).acquireConnection()) as SqliteConnection;
    return executeEach(conn, text, rows, shared?.values);
  };
}
