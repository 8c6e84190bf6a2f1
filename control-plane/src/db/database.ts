import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { migrationSource } from './migrations';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  knex: Knex;
  dialect: Dialect;
  close(): Promise<void>;
}

/** The only place that branches on the database kind. */
export async function openDatabase(url: string, opts: { migrate?: boolean } = {}): Promise<Database> {
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
      client: 'sqlite3',
      connection: { filename: file },
      useNullAsDefault: true,
      // One connection: SQLite has one writer anyway, and a single connection makes every
      // transaction strictly serial, so there is no SQLITE_BUSY under load.
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: any, done: (err: Error | null, conn: any) => void) {
          conn.serialize(() => {
            conn.run('PRAGMA journal_mode = WAL');
            // FULL: a commit is on disk before the 201 goes out; group commit keeps that affordable.
            conn.run('PRAGMA synchronous = FULL');
            conn.run('PRAGMA foreign_keys = ON');
            conn.run('PRAGMA busy_timeout = 5000', (err: Error | null) => done(err, conn));
          });
          preparedTransactionControl(conn);
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
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT' && /UNIQUE/i.test(e.message ?? '');
}

export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23503' || (e?.code === 'SQLITE_CONSTRAINT' && /FOREIGN KEY/i.test(e.message ?? ''));
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

/** The parts of node-sqlite3's connection and statement used here. */
interface SqliteStatement {
  all(params: unknown[], cb: (err: Error | null, rows: unknown[]) => void): unknown;
  finalize(cb?: () => void): unknown;
}
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  close(cb?: (err: Error | null) => void): unknown;
}

/** Prepared statements per SQLite connection, keyed by their SQL text. */
const prepared = new WeakMap<SqliteConnection, Map<string, SqliteStatement>>();
const MAX_PREPARED = 256;

function preparedStatements(conn: SqliteConnection): Map<string, SqliteStatement> {
  let cache = prepared.get(conn);
  if (cache) return cache;
  const statements = new Map<string, SqliteStatement>();
  cache = statements;
  prepared.set(conn, statements);
  // SQLite refuses to close a connection with statements still prepared: finalize them first.
  const close = conn.close.bind(conn);
  conn.close = (cb?: (err: Error | null) => void) => {
    const open = [...statements.values()];
    statements.clear();
    if (open.length === 0) return close(cb);
    let left = open.length;
    for (const s of open) s.finalize(() => void (--left === 0 && close(cb)));
    return conn;
  };
  return statements;
}

/** What knex sends to begin and end a transaction. */
const TRANSACTION_CONTROL = new Set(['BEGIN;', 'COMMIT;', 'ROLLBACK']);

/**
 * knex begins and ends every transaction with a statement of its own. Through node-sqlite3 each
 * would be prepared on the driver's thread, run there, and finalized on the main thread under the
 * connection's mutex: a commit round paid two extra thread hops. These run through statements
 * prepared once per connection instead (see sqliteRows).
 */
function preparedTransactionControl(conn: SqliteConnection & { all: (sql: string, params: unknown, cb: (err: Error | null, rows: unknown[]) => void) => unknown }): void {
  const all = conn.all.bind(conn);
  conn.all = (sql, params, cb) => {
    if (!TRANSACTION_CONTROL.has(sql)) return all(sql, params, cb);
    return preparedStatement(conn, sql).all([], cb);
  };
}

/** The statement prepared on this connection for this SQL text, prepared now if there is none yet (the oldest is finalized past MAX_PREPARED). */
function preparedStatement(conn: SqliteConnection, sql: string): SqliteStatement {
  const cache = preparedStatements(conn);
  let stmt = cache.get(sql);
  if (stmt === undefined) {
    if (cache.size >= MAX_PREPARED) {
      const [oldest, old] = cache.entries().next().value as [string, SqliteStatement];
      cache.delete(oldest);
      old.finalize();
    }
    stmt = conn.prepare(sql);
    cache.set(sql, stmt);
  }
  return stmt;
}

/**
 * Runs one statement of a SQLite transaction on the transaction's connection through a prepared
 * statement kept for that SQL text, and resolves with its rows (RETURNING rows for writes).
 *
 * The hot statements of the send path have fixed SQL on SQLite (their rows travel as one JSON
 * parameter), so each is prepared once instead of per call. Through knex, every statement was
 * built by its query compiler, prepared on the driver's thread and finalized on the main thread
 * under the connection's mutex: about twice the main thread's time per statement (see
 * docs/PERFORMANCE.md).
 */
export async function sqliteRows<T = Record<string, unknown>>(trx: Knex.Transaction, sql: string, params: readonly unknown[]): Promise<T[]> {
  const conn = (await (trx.client as unknown as { acquireConnection(): Promise<SqliteConnection> }).acquireConnection()) as SqliteConnection;
  const s = preparedStatement(conn, sql);
  return new Promise<T[]>((resolve, reject) => {
    s.all(params as unknown[], (err, rows) => (err ? reject(err) : resolve(rows as T[])));
  });
}

const jsonInsertSql = new Map<string, string>();

/** Column values every row of a multi-row INSERT shares (a bulk send's trunk, sender and text). */
export interface SharedColumns {
  columns: readonly string[];
  values: readonly unknown[];
}

/**
 * On SQLite, a multi-row INSERT whose rows travel as one JSON parameter and are unpacked by SQLite
 * (json_each) on the driver's thread: binding thousands of parameters one by one costs the main
 * thread more than the insert itself. Values all rows share are bound once. Undefined on
 * PostgreSQL (whose casts would differ per column type); callers bind the values there.
 */
export function jsonRowsInsert(trx: Knex.Transaction, table: string, columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>, shared?: SharedColumns): (() => Promise<unknown>) | undefined {
  if (!onSqlite(trx)) return undefined;
  const fixed = shared?.columns ?? [];
  const key = `${table}\0${fixed.join(',')}\0${columns.join(',')}`;
  let sql = jsonInsertSql.get(key);
  if (sql === undefined) {
    const names = [...fixed, ...columns].map((c) => `"${c}"`).join(', ');
    const values = [...fixed.map(() => '?'), ...columns.map((_, i) => `json_extract(value, '$[${i}]')`)].join(', ');
    sql = `insert into "${table}" (${names}) select ${values} from json_each(?) order by key`;
    if (jsonInsertSql.size > 2000) jsonInsertSql.clear();
    jsonInsertSql.set(key, sql);
  }
  const params = [...(shared?.values ?? []).map((v) => (v === undefined ? null : v)), JSON.stringify(rows)];
  const text = sql;
  return () => sqliteRows(trx, text, params);
}
