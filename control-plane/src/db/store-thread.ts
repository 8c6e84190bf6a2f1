import path from 'node:path';
import { Worker } from 'node:worker_threads';
import knexFactory, { Knex } from 'knex';
import type { RetryPolicy } from '../callbacks/retry-policy';
import type { ChangeKind } from '../shared/changes';
import { PerTurn } from '../shared/per-turn';

/*
 * The embedded database on a thread of its own (store-thread-worker.ts). The thread owns the one
 * SQLite connection and runs the group-commit rounds (accepts, submit outcomes, receipts, callback
 * attempts) with the same code as in process (MessageStore, recordAttempts, CommitGroup): every
 * statement of a round, building its rows, the COMMIT and its fdatasync are off the main thread,
 * which hands batches over and hears back once they are on disk. Everything else the main thread
 * asks of the database (the control plane, claims, the message log) goes through `knex` here, a
 * knex whose queries the thread runs on the same connection: one connection, so transactions stay
 * strictly serial as before. docs/PERFORMANCE.md (eighth pass) has what it was worth.
 *
 * Messages cross in batches, one postMessage per turn of either event loop each way.
 */

export interface StoreThreadOptions {
  /** sqlite://… */
  url: string;
  instanceId: string;
  /** Leases the thread grants on new messages and callback rows (see MessageStore.handOffTo, CallbackOutbox.handOffTo). */
  messageLeaseMs: number;
  callbackLeaseMs: number;
  callbackMaxAgeMs: number;
  retryPolicy: RetryPolicy;
  /** Grant leases at all (false: API only, nothing is handed to workers). */
  workers: boolean;
}

/** What the workers here could take now: the thread leases new rows up to it. */
export interface Room {
  messages: number;
  callbacks: number;
}

export type Member = 'attempts' | 'outcomes' | 'receipts' | 'accept';

export type ToStore =
  | { t: 'q'; id: number; sql: string; bindings: unknown[] }
  /** `room`: what the workers here could take now, counting the leases in `seen` (how many they have received so far). */
  | { t: 'b'; member: Member; items: Array<[number, unknown]>; room: Room; seen: Room }
  | { t: 'change'; kind: ChangeKind; id?: string }
  | { t: 'close' };

export interface SerializedDbError {
  message: string;
  code?: string;
  name?: string;
}

export type FromStore =
  | { t: 'ready' }
  | { t: 'failed'; error: SerializedDbError }
  | { t: 'qr'; id: number; ok: true; reader: boolean; rows: unknown[]; changes: number; lastInsertRowid: number }
  | { t: 'qr'; id: number; ok: false; error: SerializedDbError }
  | { t: 'br'; results: Array<[Member, number, boolean, unknown]> }
  | { t: 'closed' };

/** The leases a committed result carries for `owner`: an accept's messages, or leased callback rows. */
export function leasesIn(member: Member, item: unknown, value: unknown, owner: string): Room {
  const n: Room = { messages: 0, callbacks: 0 };
  if (member === 'accept' && value === owner) n.messages = (item as { messages: unknown[] }).messages.length;
  else if ((member === 'outcomes' || member === 'receipts') && Array.isArray(value)) {
    for (const row of value as Array<{ lease_owner?: string | null }>) if (row.lease_owner === owner) n.callbacks++;
  }
  return n;
}

export function serializeDbError(err: unknown): SerializedDbError {
  const e = err as { message?: string; code?: string; name?: string };
  return { message: String(e?.message ?? err), code: e?.code, name: e?.name };
}

function deserialize(e: SerializedDbError): Error {
  const err = new Error(e.message) as Error & { code?: string };
  if (e.code !== undefined) err.code = e.code;
  if (e.name) err.name = e.name;
  return err;
}

/** A group-commit batcher whose rounds run on the store thread: the same submit/idle as TransactionBatcher. */
export class RemoteBatcher<T, R> {
  private readonly waiting = new Map<number, { item: T; resolve(r: R): void; reject(e: unknown): void }>();
  private readonly outgoing = new PerTurn<[number, T]>((items) => {
    if (!this.store.post({ t: 'b', member: this.member, items, room: this.store.room(), seen: this.store.seenGranted })) this.failAll(this.store.gone ?? 'the store thread is gone');
  });
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly store: StoreThread,
    readonly member: Member,
    /** Runs for each item once it is committed and on disk, before its caller continues. */
    private readonly afterCommit?: (item: T, result: R) => void,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const n = this.store.nextId();
      this.waiting.set(n, { item, resolve, reject });
      this.outgoing.push([n, item]);
    });
  }

  get pending(): number {
    return this.waiting.size;
  }

  /** Resolves when everything submitted so far has been written (or has failed). */
  idle(): Promise<void> {
    if (this.waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** @internal StoreThread: the thread's answer for item `n`. */
  settle(n: number, ok: boolean, value: unknown): void {
    const w = this.waiting.get(n);
    if (!w) return;
    this.waiting.delete(n);
    if (ok) {
      this.store.received(this.member, w.item, value);
      w.resolve(value as R);
      this.afterCommit?.(w.item, value as R);
    } else w.reject(deserialize(value as SerializedDbError));
    if (this.waiting.size === 0) for (const f of this.idleWaiters.splice(0)) f();
  }

  /** @internal StoreThread: the thread is gone; everything waiting fails. */
  failAll(why: string): void {
    this.outgoing.clear();
    for (const [n] of [...this.waiting]) this.settle(n, false, { message: why });
  }
}

// knex's better-sqlite3 dialect (its SQL and schema compilers), with queries run by the store thread.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ClientBetterSQLite3: new (config: unknown) => object = require('knex/lib/dialects/better-sqlite3');

interface QueryObject {
  sql: string;
  bindings?: unknown[];
  response?: unknown;
  context?: { lastID: number; changes: number };
}

/** The knex client of the main thread when the store thread holds the connection: each query is a round trip to it. */
class StoreThreadClient extends ClientBetterSQLite3 {
  declare config: { storeThread: StoreThread };

  async acquireRawConnection(): Promise<object> {
    // knex pools one of these; the real connection is the thread's.
    return { storeThread: true };
  }

  async destroyRawConnection(): Promise<void> {}

  async _query(_connection: unknown, obj: QueryObject): Promise<QueryObject> {
    if (!obj.sql) throw new Error('The query is empty');
    const bindings = (this as unknown as { _formatBindings(b?: unknown[]): unknown[] })._formatBindings(obj.bindings);
    const r = await this.config.storeThread.query(obj.sql, bindings);
    if (r.reader) obj.response = r.rows;
    else {
      obj.response = { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
      obj.context = { lastID: r.lastInsertRowid, changes: r.changes };
    }
    return obj;
  }
}

export class StoreThread {
  readonly knex: Knex;
  private readonly worker: Worker;
  private seq = 0;
  private readonly queries = new Map<number, { resolve(r: Extract<FromStore, { t: 'qr'; ok: true }>): void; reject(e: Error): void }>();
  private readonly batchers = new Map<Member, RemoteBatcher<any, any>>();
  private dead?: string;
  private closing?: () => void;
  /** @internal Leases received here so far (messages and callback rows): the room sent with a batch counts them. */
  readonly seenGranted: Room = { messages: 0, callbacks: 0 };

  private constructor(
    private readonly opts: StoreThreadOptions,
    readonly room: () => Room,
    ready: { resolve(): void; reject(e: Error): void },
  ) {
    const ext = path.extname(__filename);
    const file = path.join(__dirname, `store-thread-worker${ext}`);
    // From sources (tests run TypeScript through tsx) the thread registers tsx before loading its module.
    // The thread's objects live for one round: a young generation of 8 MB, as the callback thread's, keeps its heap small.
    const resourceLimits = { maxYoungGenerationSizeMb: 8 };
    this.worker =
      ext === '.ts'
        ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, { eval: true, workerData: opts, resourceLimits })
        : new Worker(file, { workerData: opts, resourceLimits });
    this.worker.on('message', (m: FromStore) => {
      switch (m.t) {
        case 'qr': {
          const q = this.queries.get(m.id);
          this.queries.delete(m.id);
          if (!q) return;
          if (m.ok) q.resolve(m);
          else q.reject(deserialize(m.error));
          return;
        }
        case 'br':
          for (const [member, n, ok, value] of m.results) this.batchers.get(member)?.settle(n, ok, value);
          return;
        case 'ready':
          return ready.resolve();
        case 'failed':
          return ready.reject(deserialize(m.error));
        case 'closed':
          this.closing?.();
          return;
      }
    });
    const lost = (why: string) => {
      if (this.dead) return;
      this.dead = why;
      ready.reject(new Error(why));
      for (const q of this.queries.values()) q.reject(new Error(why));
      this.queries.clear();
      for (const b of this.batchers.values()) b.failAll(why);
      this.closing?.();
    };
    this.worker.on('error', (err) => lost(`the store thread failed: ${err.message}`));
    this.worker.on('exit', (code) => lost(`the store thread exited (${code})`));
    this.knex = knexFactory({ client: StoreThreadClient as unknown as typeof Knex.Client, connection: { filename: opts.url }, useNullAsDefault: true, pool: { min: 1, max: 1 }, storeThread: this } as Knex.Config);
  }

  /** Starts the thread; resolves once it has opened (and migrated) the database. */
  static start(opts: StoreThreadOptions, room: () => Room): Promise<StoreThread> {
    return new Promise<StoreThread>((resolve, reject) => {
      let store: StoreThread | undefined = undefined;
      store = new StoreThread(opts, room, { resolve: () => resolve(store!), reject });
    });
  }

  /** A batcher for one of the thread's group-commit members. */
  batcher<T, R>(member: Member, afterCommit?: (item: T, result: R) => void): RemoteBatcher<T, R> {
    if (this.batchers.has(member)) throw new Error(`store thread: a ${member} batcher exists already`);
    const b = new RemoteBatcher<T, R>(this, member, afterCommit);
    this.batchers.set(member, b);
    return b;
  }

  /** Configuration changed on this side: the thread's trunk policy cache hears of it too. */
  changed(kind: ChangeKind, id?: string): void {
    this.post({ t: 'change', kind, id });
  }

  /**
   * @internal RemoteBatcher: counts the leases a result carries (an accept's messages, leased callback
   * rows) before it is offered to the workers, whose room counts them from then on.
   */
  received(member: Member, item: unknown, value: unknown): void {
    const n = leasesIn(member, item, value, this.opts.instanceId);
    this.seenGranted.messages += n.messages;
    this.seenGranted.callbacks += n.callbacks;
  }

  /** @internal */
  nextId(): number {
    return ++this.seq;
  }

  /** @internal Hands a message to the thread; false when the thread is gone. */
  post(m: ToStore): boolean {
    if (this.dead) return false;
    this.worker.postMessage(m);
    return true;
  }

  /** @internal Why the thread is gone, if it is. */
  get gone(): string | undefined {
    return this.dead;
  }

  /** @internal StoreThreadClient: runs one statement on the thread's connection. */
  query(sql: string, bindings: unknown[]): Promise<Extract<FromStore, { t: 'qr'; ok: true }>> {
    if (this.dead) return Promise.reject(new Error(this.dead));
    return new Promise((resolve, reject) => {
      const id = this.nextId();
      this.queries.set(id, { resolve, reject });
      this.worker.postMessage({ t: 'q', id, sql, bindings } satisfies ToStore);
    });
  }

  /** Waits for the batches handed over, closes the database (a last sync and checkpoint), ends the thread. */
  async close(): Promise<void> {
    await this.knex.destroy();
    if (!this.dead) {
      await new Promise<void>((resolve) => {
        this.closing = resolve;
        this.worker.postMessage({ t: 'close' } satisfies ToStore);
      });
    }
    await this.worker.terminate();
  }
}
