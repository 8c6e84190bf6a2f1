import { parentPort, workerData } from 'node:worker_threads';
import type { Knex } from 'knex';
import { recordAttempts } from '../callbacks/attempts';
import { CallbackOutbox } from '../callbacks/outbox';
import type { AcceptItem } from '../sending/message-store';
import { MessageStore } from '../sending/message-store';
import { ChangeFeed } from '../shared/changes';
import { TrunkAccess } from '../trunks/trunk-access';
import { Database, openDatabase } from './database';
import { execute, prepared, SqliteConnection } from './sqlite-client';
import { FromStore, leasesIn, Member, Room, serializeDbError, StoreThreadOptions, ToStore } from './store-thread';
import { CommitGroup, TransactionBatcher } from './transaction-batcher';
import { PerTurn } from '../shared/per-turn';

/**
 * The store thread (see StoreThread): opens and migrates the database, runs the group-commit
 * members on their CommitGroup exactly as the platform runs them in process, and runs the main
 * thread's queries on the same connection, holding it from a BEGIN of the main thread's to its
 * COMMIT or ROLLBACK so that rounds never interleave with that transaction.
 */
const opts = workerData as StoreThreadOptions;
const port = parentPort!;
const send = (m: FromStore) => port.postMessage(m);

interface Client {
  acquireConnection(): Promise<SqliteConnection>;
  releaseConnection(conn: SqliteConnection): Promise<void>;
  durable(): Promise<void>;
}

async function main(): Promise<void> {
  let db: Database;
  try {
    // Commits, and the checkpoints SQLite runs inside them, are off the main thread here already.
    db = await openDatabase(opts.url, { checkpoints: 'inline' });
  } catch (err) {
    return send({ t: 'failed', error: serializeDbError(err) });
  }
  const knex: Knex = db.knex;
  const client = knex.client as unknown as Client;

  // The members, joined in the platform's order (attempts, outcomes, receipts, accepts): see platform.ts.
  const changes = new ChangeFeed();
  const access = new TrunkAccess(knex, changes);
  const outbox = new CallbackOutbox(() => opts.callbackMaxAgeMs);
  const store = new MessageStore(outbox, access);
  // What the main thread's workers can take: their room as last reported, less the leases that report
  // did not count yet: those committed since (`committed` - `seen`) and those of the round in progress.
  // Counted where it is exact: committed grants as each batch settles (before the next round grants
  // anything), grants in progress from the start of each round (so a round that failed returns its
  // grants). All or nothing per round, as in process.
  let report: { room: Room; seen: Room } = { room: { messages: 0, callbacks: 0 }, seen: { messages: 0, callbacks: 0 } };
  const committed: Room = { messages: 0, callbacks: 0 };
  const inProgress: Room = { messages: 0, callbacks: 0 };
  const grant = (kind: keyof Room, count: number, leaseMs: number) => {
    const available = report.room[kind] - (committed[kind] - report.seen[kind]) - inProgress[kind];
    if (available < count) return undefined;
    inProgress[kind] += count;
    return { owner: opts.instanceId, until: new Date(Date.now() + leaseMs).toISOString() };
  };
  const settled = (member: Member) => (items: any[], values: any[]) => {
    items.forEach((item, i) => {
      const n = leasesIn(member, item, member === 'accept' ? (values[i] ?? null) : values[i], opts.instanceId);
      committed.messages += n.messages;
      committed.callbacks += n.callbacks;
      inProgress.messages = Math.max(0, inProgress.messages - n.messages);
      inProgress.callbacks = Math.max(0, inProgress.callbacks - n.callbacks);
    });
  };
  if (opts.workers) {
    store.handOffTo((count) => grant('messages', count, opts.messageLeaseMs));
    outbox.handOffTo((count) => grant('callbacks', count, opts.callbackLeaseMs));
  }
  const group = new CommitGroup(knex, () => {
    inProgress.messages = 0;
    inProgress.callbacks = 0;
  });
  const members: Record<Member, TransactionBatcher<any, any>> = {
    attempts: new TransactionBatcher(knex, (trx, items) => recordAttempts(trx, items, { instanceId: opts.instanceId, policy: opts.retryPolicy }), 500, undefined, group, true),
    outcomes: new TransactionBatcher(knex, (trx, items) => store.recordOutcomes(trx, items), 500, settled('outcomes'), group),
    receipts: new TransactionBatcher(knex, (trx, items, outcomesDone) => store.applyReceipts(trx, items, false, outcomesDone), 500, settled('receipts'), group, true),
    // The main thread's item is a copy: which lease the accept got travels back as the result.
    accept: new TransactionBatcher(
      knex,
      async (trx, items: AcceptItem[]) => {
        await store.accept(trx, items);
        return items.map((i) => i.leasedBy ?? null);
      },
      1000,
      settled('accept'),
      group,
      true,
    ),
  };

  const results = new PerTurn<[Member, number, boolean, unknown]>((batch) => send({ t: 'br', results: batch }));
  const result = (entry: [Member, number, boolean, unknown]) => results.push(entry);

  // The main thread's queries, in the order they come, on the pooled connection; held while its transaction is open.
  let held: SqliteConnection | undefined;
  let queue: Promise<void> = Promise.resolve();
  const query = async (m: Extract<ToStore, { t: 'q' }>) => {
    const conn = held ?? (await client.acquireConnection());
    let reply: FromStore;
    try {
      const r = execute(conn, m.sql, m.bindings);
      reply = { t: 'qr', id: m.id, ok: true, reader: prepared(conn, m.sql).reader, rows: r.rows, changes: r.changes, lastInsertRowid: Number(r.lastInsertRowid) };
    } catch (err) {
      reply = { t: 'qr', id: m.id, ok: false, error: serializeDbError(err) };
    }
    if (conn.inTransaction) held = conn;
    else {
      held = undefined;
      await client.releaseConnection(conn);
    }
    // As for any query here: answered once what it wrote, or read, is on disk.
    if (reply.ok) await client.durable().catch((err) => (reply = { t: 'qr', id: m.id, ok: false, error: serializeDbError(err) }));
    send(reply);
  };

  port.on('message', (m: ToStore) => {
    switch (m.t) {
      case 'q':
        queue = queue.then(() => query(m));
        return;
      case 'b': {
        report = { room: m.room, seen: m.seen };
        const member = members[m.member];
        for (const [n, item] of m.items) {
          member.submit(item).then(
            (value) => result([m.member, n, true, value ?? null]),
            (err) => result([m.member, n, false, serializeDbError(err)]),
          );
        }
        return;
      }
      case 'change':
        changes.changed(m.kind, m.id);
        return;
      case 'close':
        void (async () => {
          await queue;
          for (const member of Object.values(members)) await member.idle();
          await db.close();
          send({ t: 'closed' });
        })();
        return;
    }
  });
  send({ t: 'ready' });
}

void main();
