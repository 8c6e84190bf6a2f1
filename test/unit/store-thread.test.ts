import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import BetterSqlite3 from 'better-sqlite3';
import { DEFAULT_RETRY_POLICY } from '../../control-plane/src/callbacks/retry-policy';
import { isUniqueViolation } from '../../control-plane/src/db/database';
import { Room, StoreThread } from '../../control-plane/src/db/store-thread';
import type { AcceptItem, NewMessage } from '../../control-plane/src/sending/message-store';

/*
 * The database on a thread of its own (StoreThread): the main thread's knex runs its queries on
 * the thread's one connection, transactions included and never interleaved with a commit round;
 * the group-commit members run on the thread and their results, errors and lease grants come
 * back; and a thread that dies fails what was waiting on it instead of leaving it hanging.
 */
describe('StoreThread (the SQLite connection and commit rounds on their own thread)', function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;
  let store: StoreThread;
  let room: Room;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-thread-'));
    file = path.join(dir, 'test.sqlite3');
    room = { messages: 0, callbacks: 0 };
    store = await StoreThread.start(
      { url: `sqlite://${file}`, instanceId: 'i1', messageLeaseMs: 30_000, callbackLeaseMs: 30_000, callbackMaxAgeMs: 3_600_000, retryPolicy: DEFAULT_RETRY_POLICY, workers: true },
      () => room,
    );
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const message = (id: string): NewMessage => ({ id, trunk_id: 't1', source: '12125551234', destination: '15551230000', content: 'hi', encoding: 'gsm7', segments: 1, created_at: new Date().toISOString() });
  /** What another connection to the file sees: committed rows only. */
  const committed = (sql: string) => {
    const other = new BetterSqlite3(file, { readonly: true });
    try {
      return other.prepare(sql).all();
    } finally {
      other.close();
    }
  };

  it('runs the main thread\'s queries and transactions there, with errors that keep their SQLite code', async () => {
    // Migrated by the thread before it said ready.
    expect((await store.knex('knex_migrations').count({ n: '*' }))[0]!.n).to.be.above(10);
    await store.knex.transaction(async (trx) => {
      await trx('admin_tokens').insert({ id: 'a', name: 'one', token_hash: 'h1', created_at: 'now' });
      await trx('admin_tokens').insert({ id: 'b', name: 'two', token_hash: 'h2', created_at: 'now' });
    });
    const dup = await store.knex('admin_tokens').insert({ id: 'c', name: 'three', token_hash: 'h1', created_at: 'now' }).catch((e: unknown) => e);
    expect(isUniqueViolation(dup), String(dup)).to.equal(true);
    const rolledBack = await store.knex
      .transaction(async (trx) => {
        await trx('admin_tokens').insert({ id: 'd', name: 'four', token_hash: 'h4', created_at: 'now' });
        throw new Error('abort');
      })
      .catch((e: Error) => e.message);
    expect(rolledBack).to.equal('abort');
    expect((await store.knex('admin_tokens').orderBy('id')).map((r: { id: string }) => r.id)).to.deep.equal(['a', 'b']);
    expect(committed('select id from admin_tokens order by id')).to.deep.equal([{ id: 'a' }, { id: 'b' }]);
  });

  /** An accept batcher whose "workers" take what was leased to them, as the dispatcher does: their room shrinks by it. */
  const acceptInto = (offered: Array<string | null>) =>
    store.batcher<AcceptItem, string | null>('accept', (item, leasedBy) => {
      offered.push(leasedBy);
      if (leasedBy) room.messages -= item.messages.length;
    });

  it('commits accepts on the thread and leases new messages only as far as the room it was told of goes', async () => {
    room = { messages: 3, callbacks: 0 };
    const offered: Array<string | null> = [];
    const accept = acceptInto(offered);
    // One round of three messages fits the room of three: all leased (all or nothing per round, as in process).
    expect(await Promise.all([accept.submit({ messages: [message('m1'), message('m2')] }), accept.submit({ messages: [message('m3')] })])).to.deep.equal(['i1', 'i1']);
    // The workers took them: no room, no lease.
    expect(await accept.submit({ messages: [message('m4')] })).to.equal(null);
    // One of them finished: one more fits.
    room.messages += 1;
    expect(await accept.submit({ messages: [message('m5')] })).to.equal('i1');
    expect(offered).to.deep.equal(['i1', 'i1', null, 'i1']);
    expect(committed('select id, lease_owner from messages order by id')).to.deep.equal([
      { id: 'm1', lease_owner: 'i1' },
      { id: 'm2', lease_owner: 'i1' },
      { id: 'm3', lease_owner: 'i1' },
      { id: 'm4', lease_owner: null },
      { id: 'm5', lease_owner: 'i1' },
    ]);
  });

  it('counts the leases whose results have not reached this thread yet against the room it reported', async () => {
    room = { messages: 2, callbacks: 0 };
    // The workers' room stays two, as it would while the results of the grants are still on their way here.
    const accept = store.batcher<AcceptItem, string | null>('accept');
    const seen = (store as unknown as { seenGranted: Room }).seenGranted;
    const stillOnTheWay = () => (seen.messages = 0);
    expect(await accept.submit({ messages: [message('m1')] })).to.equal('i1');
    stillOnTheWay();
    expect(await accept.submit({ messages: [message('m2')] })).to.equal('i1');
    stillOnTheWay();
    // Two leased that the report does not count: nothing more fits in a room of two.
    expect(await accept.submit({ messages: [message('m3')] })).to.equal(null);
    // Once they have arrived (the report counts them, and the room still says two), two fit again.
    seen.messages = 2;
    expect(await accept.submit({ messages: [message('m4'), message('m5')] })).to.equal('i1');
  });

  it('fails a bad item alone, with its error here, and a failed round\'s leases do not stay counted', async () => {
    room = { messages: 2, callbacks: 0 };
    const accept = acceptInto([]);
    const key = { trunkId: 't1', key: 'k', hash: 'h', status: 201, body: '{}' };
    // A repeated idempotency key fails the round; each item is then committed on its own and the second fails.
    const again = await Promise.allSettled([accept.submit({ messages: [message('m6')], idempotency: key }), accept.submit({ messages: [message('m7')], idempotency: key })]);
    expect(again.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected']);
    expect(isUniqueViolation((again[1] as PromiseRejectedResult).reason)).to.equal(true);
    expect(committed("select id from messages where id in ('m6', 'm7')")).to.deep.equal([{ id: 'm6' }]);
    // The next round starts from what the workers report: the grants of the round that failed are gone.
    const leased = committed("select count(*) as n from messages where lease_owner = 'i1'") as Array<{ n: number }>;
    room.messages = 2 - leased[0]!.n;
    expect(await accept.submit({ messages: [message('m8')] })).to.equal('i1');
  });

  it('holds commit rounds back while a transaction of the main thread is open', async () => {
    const accept = store.batcher<AcceptItem, string | null>('accept');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const trx = store.knex.transaction(async (t) => {
      await t('admin_tokens').insert({ id: 'x', name: 'x', token_hash: 'hx', created_at: 'now' });
      await gate;
    });
    await new Promise((r) => setTimeout(r, 50));
    let accepted = false;
    const pending = accept.submit({ messages: [message('m9')] }).then(() => (accepted = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(accepted).to.equal(false);
    expect(committed('select id from messages')).to.deep.equal([]);
    release();
    await trx;
    await pending;
    expect(committed('select id from messages')).to.deep.equal([{ id: 'm9' }]);
  });

  it('fails what waits on a thread that died, and every query after', async () => {
    const accept = store.batcher<AcceptItem, string | null>('accept');
    await (store as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const [q, a] = await Promise.allSettled([store.knex('messages').select(), accept.submit({ messages: [message('m1')] })]);
    expect(q.status).to.equal('rejected');
    expect(String((q as PromiseRejectedResult).reason)).to.match(/store thread exited/);
    expect(a.status).to.equal('rejected');
    await accept.idle();
  });
});
