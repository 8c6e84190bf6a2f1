import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import BetterSqlite3 from 'better-sqlite3';
import { Database, openDatabase } from '../../control-plane/src/db/database';
import { migrationSource } from '../../control-plane/src/db/migrations';

/*
 * The embedded database runs on better-sqlite3 with `synchronous = NORMAL` and makes every commit
 * durable itself: an fdatasync of the WAL file, off the main thread, before the commit's caller
 * hears back (control-plane/src/db/sqlite-client.ts). These tests hold fdatasync back to see that no
 * commit is acknowledged before its sync, that commits waiting meanwhile share the next one, that
 * reads and rollbacks sync nothing, and that each statement is prepared once per connection.
 */
describe('SQLite driver: statements prepared once, commits durable before they are acknowledged', () => {
  let dir: string;
  let db: Database;
  let prepares: string[];
  let syncs: Array<{ file: string; release(): void }>;
  const realFdatasync = fs.fdatasync;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'database-'));
    db = await openDatabase(`sqlite://${path.join(dir, 'test.sqlite3')}`, { migrate: false });
    await db.knex.schema.createTable('t', (t) => t.string('k').primary());
    // The one pooled connection: count what is prepared on it from here on.
    const client = db.knex.client as unknown as { acquireConnection(): Promise<any>; releaseConnection(c: unknown): Promise<void> };
    const conn = await client.acquireConnection();
    prepares = [];
    const prepare = conn.prepare.bind(conn);
    conn.prepare = (sql: string, ...rest: unknown[]) => {
      prepares.push(sql);
      return prepare(sql, ...rest);
    };
    await client.releaseConnection(conn);
    syncs = [];
  });
  afterEach(async () => {
    (fs as { fdatasync: typeof fs.fdatasync }).fdatasync = realFdatasync;
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** From here on every fdatasync waits until the test releases it; `syncs` lists them. */
  const holdSyncs = () => {
    (fs as { fdatasync: unknown }).fdatasync = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      syncs.push({ file: fs.readlinkSync(`/proc/self/fd/${fd}`), release: () => realFdatasync(fd, cb) });
    };
  };
  const settledWithin = async (p: Promise<unknown>, ms = 50) => {
    let done = false;
    void p.then(() => (done = true), () => (done = true));
    await new Promise((r) => setTimeout(r, ms));
    return done;
  };
  const keys = async () => (await db.knex('t').orderBy('k')).map((r: { k: string }) => r.k);

  it('commits and rolls back, preparing each statement once for many transactions', async () => {
    for (const k of ['a', 'b', 'c']) await db.knex.transaction((trx) => trx('t').insert({ k }));
    for (const k of ['x', 'y']) {
      const failed = await db.knex
        .transaction(async (trx) => {
          await trx('t').insert({ k });
          throw new Error('abort');
        })
        .catch((e: Error) => e.message);
      expect(failed).to.equal('abort');
    }
    // A unique violation inside the transaction: rolled back, and the connection is usable after it.
    const dup = await db.knex.transaction((trx) => trx('t').insert([{ k: 'd' }, { k: 'a' }])).catch((e: Error) => e.message);
    expect(dup).to.match(/UNIQUE/);
    await db.knex.transaction((trx) => trx('t').insert({ k: 'e' }));

    expect(await keys()).to.deep.equal(['a', 'b', 'c', 'e']);
    for (const sql of ['BEGIN;', 'COMMIT;', 'ROLLBACK', 'insert into `t` (`k`) values (?)']) expect(prepares.filter((s) => s === sql), sql).to.have.length(1);
  });

  it('does not acknowledge a commit before an fdatasync of the WAL that started after it', async () => {
    holdSyncs();
    const commit = db.knex.transaction((trx) => trx('t').insert({ k: 'a' }));
    expect(await settledWithin(commit)).to.equal(false);
    expect(syncs).to.have.length(1);
    expect(syncs[0]!.file).to.equal(`${fs.realpathSync(path.join(dir, 'test.sqlite3'))}-wal`);
    // Committed (another connection sees it), only not acknowledged yet.
    const other = new BetterSqlite3(path.join(dir, 'test.sqlite3'), { readonly: true });
    expect(other.prepare('select k from t').all()).to.deep.equal([{ k: 'a' }]);
    other.close();
    syncs[0]!.release();
    await commit;
  });

  it('makes a write outside a transaction durable too, and lets commits that end during one sync share the next', async () => {
    holdSyncs();
    const first = Promise.resolve(db.knex('t').insert({ k: 'a' }));
    await new Promise((r) => setTimeout(r, 20));
    expect(syncs).to.have.length(1);
    // Three more commits while the first sync runs: they wait for one more, not three.
    const more = ['b', 'c', 'd'].map((k) => Promise.resolve(db.knex('t').insert({ k })));
    await new Promise((r) => setTimeout(r, 20));
    expect(syncs).to.have.length(1);
    syncs[0]!.release();
    await first;
    await new Promise((r) => setTimeout(r, 20));
    expect(syncs).to.have.length(2);
    expect(await settledWithin(Promise.all(more))).to.equal(false);
    syncs[1]!.release();
    await Promise.all(more);
    expect(await keys()).to.deep.equal(['a', 'b', 'c', 'd']);
  });

  it('syncs nothing for reads and rolled-back transactions', async () => {
    holdSyncs();
    await db.knex('t').select();
    await db.knex.raw('select 1 as one');
    await db.knex.transaction(async (trx) => {
      await trx('t').insert({ k: 'gone' });
      throw new Error('abort');
    }).catch(() => undefined);
    expect(syncs).to.deep.equal([]);
    expect(await keys()).to.deep.equal([]);
  });
});

/** A migrated SQLite file of its own for each test of the calling describe block. */
function freshDatabase(): () => Database {
  let dir: string;
  let db: Database;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'database-'));
    db = await openDatabase(`sqlite://${path.join(dir, 'test.sqlite3')}`);
  });
  afterEach(async () => {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return () => db;
}

/*
 * The callbacks table keeps only the indexes its queries read: by state (the claim of due
 * callbacks, the metrics) and by message (the message log). Every index is written on each
 * callback's insert and state change, two callbacks per message.
 */
describe('callbacks indexes (migration 0015)', () => {
  const current = freshDatabase();

  const indexes = async () => ((await current().knex.raw(`pragma index_list('callbacks')`)) as Array<{ name: string; origin: string }>).filter((i) => i.origin === 'c').map((i) => i.name).sort();

  it('has no index by trunk and state, and the claim of due callbacks still reads through the state index', async () => {
    expect(await indexes()).to.deep.equal(['callbacks_message_id_index', 'callbacks_state_next_attempt_at_index']);
    const plan = (await current().knex.raw(`explain query plan select id from callbacks where state = ? and next_attempt_at <= ? order by next_attempt_at limit 10`, ['pending', new Date().toISOString()])) as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join('\n')).to.contain('callbacks_state_next_attempt_at_index');
  });

  it('gives the index back when the migration is rolled back', async () => {
    expect(await indexes()).not.to.include('callbacks_trunk_id_state_index');
    await current().knex.migrate.down({ migrationSource, name: '0015_callbacks_without_trunk_state_index' });
    expect(await indexes()).to.include('callbacks_trunk_id_state_index');
  });
});

/* A parked receipt counts the copies the SMSC sent of it, so each is applied (the second as a duplicate). */
describe('pending receipt copies (migration 0016)', () => {
  const current = freshDatabase();

  const columns = async () => ((await current().knex.raw(`pragma table_info('pending_receipts')`)) as Array<{ name: string; dflt_value: string | null }>).map((c) => `${c.name}${c.dflt_value ? `=${c.dflt_value}` : ''}`);

  it('adds copies (1 unless counted), and rolling back removes it', async () => {
    expect(await columns()).to.include("copies='1'");
    await current().knex('pending_receipts').insert({ connector: 'a', carrier_message_id: 'x', status: 'DELIVRD', raw: '{}', received_at: new Date().toISOString() });
    expect((await current().knex('pending_receipts').first('copies'))!.copies).to.equal(1);
    await current().knex.migrate.down({ migrationSource, name: '0016_pending_receipt_copies' });
    expect((await columns()).some((c) => c.startsWith('copies'))).to.equal(false);
    expect(await current().knex('pending_receipts').count({ n: '*' })).to.deep.equal([{ n: 1 }]);
  });
});
