import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';

/*
 * The embedded database's driver: better-sqlite3 (synchronous) under knex, on one connection.
 *
 * Why synchronous: with an asynchronous driver every statement is a round trip to a driver thread,
 * and its answer waits for the main event loop to come round. A group-commit round (BEGIN, the
 * accepts, the submit outcomes, the receipts, the callback attempts, COMMIT) took four such round
 * trips, and under load each waited 15-25 ms for a busy loop: rounds of 55-90 ms, back to back,
 * capped what could be committed (docs/PERFORMANCE.md, eighth pass). Synchronously a round runs to
 * its COMMIT in one go, in a few milliseconds.
 *
 * Durability is what `synchronous = FULL` gives, without its fsync on the main thread: the
 * connection runs with `synchronous = NORMAL` (in WAL mode SQLite then syncs only around
 * checkpoints) and every commit, and every write outside a transaction, is followed by an
 * fdatasync of the WAL file on libuv's thread pool before its caller hears back (WalSync). So a
 * COMMIT whose caller has its answer is on disk, as with FULL; the event loop goes on meanwhile,
 * the connection serves other statements, and commits that end while one fdatasync runs share the
 * next. The wait is where knex hands the result back: a top-level transaction's promise and a
 * query's run() (DurableSqliteClient).
 *
 * Checkpoints (copying the WAL into the database file, with two fsyncs) would otherwise run inside
 * whichever COMMIT crossed SQLite's threshold: on a connection of the main thread they run on a
 * thread of their own instead (Checkpointer), once the WAL has grown past CHECKPOINT_START_BYTES;
 * the store thread, which runs the commits off the main thread already, leaves them to SQLite.
 */

/** better-sqlite3's statement and connection, as far as they are used here. */
export type SqliteStatement = BetterSqlite3.Statement<unknown[], unknown>;
export type SqliteConnection = BetterSqlite3.Database;

/** Prepared statements kept per connection, by SQL text (the oldest dropped past this many). */
const MAX_PREPARED = 256;

interface ConnectionState {
  statements: Map<string, SqliteStatement>;
  checkpointer?: Checkpointer;
  /** Undefined when the database has no WAL file (`:memory:`): nothing to make durable. */
  wal?: WalSync;
  /** A statement wrote since the last commit. */
  dirty: boolean;
  /** The sync that covers the latest commit. */
  lastSync?: Promise<void>;
}

const states = new WeakMap<SqliteConnection, ConnectionState>();

/**
 * Makes every write to the WAL before a sync() call durable: fdatasync on the thread pool. One
 * runs at a time; calls made while one runs share the next (which covers everything written before
 * it starts), so concurrent commits cost one fdatasync, not one each.
 */
export class WalSync {
  private fd?: number;
  private running?: Promise<void>;
  private queued?: Promise<void>;
  /** fdatasync calls made (tests, metrics). */
  syncs = 0;

  constructor(
    readonly file: string,
    /** Called after each fdatasync with the WAL file's size. */
    private readonly afterSync?: (bytes: number) => void,
  ) {}

  /** Resolves once everything written to the WAL before this call is on disk. */
  sync(): Promise<void> {
    if (!this.running) return (this.running = this.flush());
    if (!this.queued) {
      const next = () => {
        this.queued = undefined;
        return (this.running = this.flush());
      };
      this.queued = this.running.then(next, next);
    }
    return this.queued;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let fd: number;
      try {
        fd = this.open();
      } catch (err) {
        this.running = undefined;
        return reject(err);
      }
      this.syncs++;
      fs.fdatasync(fd, (err) => {
        this.running = undefined;
        if (err) return reject(err);
        if (this.afterSync) this.afterSync(fs.fstatSync(fd).size);
        resolve();
      });
    });
  }

  /** The WAL file's descriptor, opened again if the file was replaced (a new inode). */
  private open(): number {
    if (this.fd !== undefined && fs.fstatSync(this.fd).ino === fs.statSync(this.file).ino) return this.fd;
    this.close();
    this.fd = fs.openSync(this.file, 'r');
    return this.fd;
  }
}

/** The WAL size from which checkpoints run on their own thread (SQLite's default threshold is 1,000 4-KiB pages). */
export const CHECKPOINT_START_BYTES = 4 * 1024 * 1024;
/** How often that thread checkpoints. */
const CHECKPOINT_INTERVAL_MS = 200;

/**
 * Checkpoints on a thread of their own (sqlite-checkpointer-thread.ts), with a connection of its own
 * to the same file: the same SQLite library in the same process, so its locks and ours are one
 * (two copies of SQLite in one process would not see each other's POSIX locks). Started the first
 * time the WAL grows past CHECKPOINT_START_BYTES, so a small database never starts it.
 */
export class Checkpointer {
  private worker?: Worker;
  private stopping?: Promise<void>;

  constructor(private readonly file: string) {}

  get running(): boolean {
    return this.worker !== undefined;
  }

  start(): void {
    if (this.worker || this.stopping) return;
    // From sources (tests run TypeScript through tsx) the thread registers tsx before loading its module.
    const ext = path.extname(__filename);
    const thread = path.join(__dirname, `sqlite-checkpointer-thread${ext}`);
    const workerData = { file: this.file, intervalMs: CHECKPOINT_INTERVAL_MS };
    const worker =
      ext === '.ts' ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(thread)});`, { eval: true, workerData }) : new Worker(thread, { workerData });
    // A checkpoint that fails is tried again next time; the WAL only grows meanwhile.
    worker.on('error', () => {
      if (this.worker === worker) this.worker = undefined;
    });
    worker.unref();
    this.worker = worker;
  }

  /** A last checkpoint, then the thread's connection closes. */
  stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return this.stopping ?? Promise.resolve();
    this.worker = undefined;
    this.stopping = new Promise<void>((resolve) => {
      const done = () => resolve();
      worker.once('exit', done);
      worker.on('message', (m) => {
        if (m === 'stopped') void worker.terminate().then(done, done);
      });
      worker.postMessage('stop');
    });
    return this.stopping;
  }
}

/**
 * Sets up a new connection: WAL, NORMAL sync with our own fdatasync (see above), foreign keys.
 * `checkpoints`: 'thread' runs them on the Checkpointer's thread (for a connection on the main
 * thread); 'inline' leaves them to SQLite, inside the COMMIT that crosses its threshold (for a
 * connection that has a thread of its own already, the store thread's).
 */
export function initConnection(conn: SqliteConnection, file: string, checkpoints: 'thread' | 'inline' = 'thread'): void {
  const wal = String(conn.pragma('journal_mode = WAL', { simple: true })).toLowerCase() === 'wal';
  conn.pragma('synchronous = NORMAL');
  conn.pragma('foreign_keys = ON');
  conn.pragma('busy_timeout = 5000');
  const state: ConnectionState = { statements: new Map(), dirty: false };
  if (wal && checkpoints === 'inline') state.wal = new WalSync(`${file}-wal`);
  else if (wal) {
    // Checkpoints run on the Checkpointer's thread, not inside our COMMITs; a WAL that grew large
    // is cut back to 64 MiB once checkpointed.
    conn.pragma('wal_autocheckpoint = 0');
    conn.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    const checkpointer = new Checkpointer(file);
    state.checkpointer = checkpointer;
    state.wal = new WalSync(`${file}-wal`, (bytes) => {
      if (bytes >= CHECKPOINT_START_BYTES && !checkpointer.running) checkpointer.start();
    });
  }
  states.set(conn, state);
}

function stateOf(conn: SqliteConnection): ConnectionState {
  const s = states.get(conn);
  if (!s) throw new Error('SQLite connection was not set up by initConnection');
  return s;
}

/** The statement prepared on this connection for this SQL text, prepared now if there is none yet. */
export function prepared(conn: SqliteConnection, sql: string): SqliteStatement {
  const { statements } = stateOf(conn);
  let stmt = statements.get(sql);
  if (stmt === undefined) {
    if (statements.size >= MAX_PREPARED) statements.delete(statements.keys().next().value as string);
    stmt = conn.prepare(sql) as SqliteStatement;
    statements.set(sql, stmt);
  }
  return stmt;
}

/** better-sqlite3 binds numbers, strings, bigints, buffers and null: booleans become 0/1, undefined NULL. */
function bindable(params: readonly unknown[]): unknown[] {
  return params.map((v) => (v === undefined ? null : typeof v === 'boolean' ? Number(v) : v));
}

export interface Executed {
  rows: unknown[];
  changes: number;
  lastInsertRowid: number | bigint;
}

/**
 * Runs one statement. When it ends outside a transaction having written (a write in autocommit, or
 * the COMMIT of a transaction that wrote), a sync of the WAL starts: `durable()` waits for it.
 */
export function execute(conn: SqliteConnection, sql: string, params: readonly unknown[]): Executed {
  const st = stateOf(conn);
  const stmt = prepared(conn, sql);
  const values = bindable(params);
  let out: Executed;
  if (stmt.reader) out = { rows: stmt.all(...values) as unknown[], changes: 0, lastInsertRowid: 0 };
  else {
    const r = stmt.run(...values);
    out = { rows: [], changes: r.changes, lastInsertRowid: r.lastInsertRowid };
  }
  if (!stmt.readonly) st.dirty = true;
  if (!conn.inTransaction && st.dirty) {
    st.dirty = false;
    // A ROLLBACK ends a transaction whose writes are gone: nothing to sync.
    if (st.wal && !/^\s*rollback\b/i.test(sql)) {
      const sync = st.wal.sync();
      // Whoever waits sees a failure; nobody waiting is no unhandled rejection.
      sync.catch(() => undefined);
      st.lastSync = sync;
    }
  }
  return out;
}

/**
 * Runs one prepared write once per row of parameters (`shared` first in each): with a synchronous
 * driver a bound call per row costs less than shipping the rows as one JSON text that SQLite parses
 * again for every column. Inside a transaction; returns the rows changed.
 */
export function executeEach(conn: SqliteConnection, sql: string, rows: ReadonlyArray<readonly unknown[]>, shared: readonly unknown[] = []): number {
  const st = stateOf(conn);
  const stmt = prepared(conn, sql);
  const head = bindable(shared);
  let changes = 0;
  for (const row of rows) changes += stmt.run(...head, ...bindable(row)).changes;
  if (!stmt.readonly && rows.length > 0) st.dirty = true;
  if (!conn.inTransaction && st.dirty) throw new Error('executeEach runs inside a transaction');
  return changes;
}

/** The connection's WAL sync (undefined for `:memory:`), for tests and close. */
export function walOf(conn: SqliteConnection): WalSync | undefined {
  return stateOf(conn).wal;
}

// knex's better-sqlite3 dialect, extended: statements prepared once per connection and the
// durability rule above (knex's own prepares every query and knows nothing of it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ClientBetterSQLite3: new (config: unknown) => object = require('knex/lib/dialects/better-sqlite3');

interface QueryObject {
  sql: string;
  bindings?: unknown[];
  response?: unknown;
  context?: { lastID: number | bigint; changes: number };
}

interface Runner {
  run(): Promise<unknown>;
}
interface TransactionLike {
  _promise: Promise<unknown>;
}

/** The connections of one knex instance (keyed by its config, which its transactions' clients share). */
const connectionsOf = new WeakMap<object, Set<SqliteConnection>>();

export class DurableSqliteClient extends ClientBetterSQLite3 {
  declare config: object;

  private get connections(): Set<SqliteConnection> {
    let set = connectionsOf.get(this.config);
    if (!set) connectionsOf.set(this.config, (set = new Set()));
    return set;
  }

  /** Resolves once every commit made so far on this knex instance is on disk. */
  durable(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const c of this.connections) {
      const sync = states.get(c)?.lastSync;
      if (sync) waits.push(sync);
    }
    return waits.length === 0 ? Promise.resolve() : Promise.all(waits).then(() => undefined);
  }

  async acquireRawConnection(): Promise<SqliteConnection> {
    const conn = (await (ClientBetterSQLite3.prototype as unknown as { acquireRawConnection(this: unknown): Promise<SqliteConnection> }).acquireRawConnection.call(this)) as SqliteConnection;
    this.connections.add(conn);
    return conn;
  }

  async _query(connection: SqliteConnection, obj: QueryObject): Promise<QueryObject> {
    if (!obj.sql) throw new Error('The query is empty');
    if (!connection) throw new Error('No connection provided');
    const r = execute(connection, obj.sql, (this as unknown as { _formatBindings(b?: unknown[]): unknown[] })._formatBindings(obj.bindings));
    if (prepared(connection, obj.sql).reader) obj.response = r.rows;
    else {
      obj.response = { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
      obj.context = { lastID: r.lastInsertRowid, changes: r.changes };
    }
    return obj;
  }

  /** A top-level transaction resolves once its COMMIT (and any before it) is on disk; the connection is back in the pool by then. */
  transaction(container: unknown, config: unknown, outerTx: unknown): TransactionLike {
    const trx = (ClientBetterSQLite3.prototype as unknown as { transaction(this: unknown, ...a: unknown[]): TransactionLike }).transaction.call(this, container, config, outerTx);
    if (!outerTx) trx._promise = trx._promise.then((value) => this.durable().then(() => value));
    return trx;
  }

  /**
   * A query resolves once every commit before it is on disk: its own write outside a transaction,
   * and what it read, so that nothing anyone is told (a claim, a message's status) is less durable
   * than with `synchronous = FULL`.
   */
  runner(builder: unknown): Runner {
    const r = (ClientBetterSQLite3.prototype as unknown as { runner(this: unknown, b: unknown): Runner }).runner.call(this, builder);
    const run = r.run.bind(r);
    r.run = async () => {
      const result = await run();
      await this.durable();
      return result;
    };
    return r;
  }

  async destroyRawConnection(connection: SqliteConnection): Promise<void> {
    const st = states.get(connection);
    // What was committed is on disk before the connection goes (close checkpoints anyway).
    if (st?.lastSync) await st.lastSync.catch(() => undefined);
    await st?.checkpointer?.stop();
    st?.wal?.close();
    this.connections.delete(connection);
    connection.close();
  }
}
