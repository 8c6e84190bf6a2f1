import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Database, openDatabase } from '../../control-plane/src/db/database';
import { migrationSource } from '../../control-plane/src/db/migrations';

/*
 * knex begins and ends each transaction with statements of its own. On SQLite those run through
 * statements prepared once per connection (a commit round used to pay a prepare on the driver's
 * thread and a finalize on the main thread for each). Commits, rollbacks and the next transaction
 * after either must behave as before.
 */
describe('SQLite transaction control (prepared BEGIN, COMMIT, ROLLBACK)', () => {
  let dir: string;
  let db: Database;
  let prepares: string[];

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
  });
  afterEach(async () => {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const keys = async () => (await db.knex('t').orderBy('k')).map((r: { k: string }) => r.k);

  it('commits and rolls back, preparing each control statement once for many transactions', async () => {
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
    expect(prepares.filter((s) => s === 'BEGIN;')).to.have.length(1);
    expect(prepares.filter((s) => s === 'COMMIT;')).to.have.length(1);
    expect(prepares.filter((s) => s === 'ROLLBACK')).to.have.length(1);
  });

  it('leaves other statements to the driver as before', async () => {
    await db.knex.raw('select 1 as one');
    expect(prepares).to.deep.equal([]);
  });
});

/*
 * The callbacks table keeps only the indexes its queries read: by state (the claim of due
 * callbacks, the metrics) and by message (the message log). Every index is written on each
 * callback's insert and state change, two callbacks per message.
 */
describe('callbacks indexes (migration 0015)', () => {
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

  const indexes = async () => ((await db.knex.raw(`pragma index_list('callbacks')`)) as Array<{ name: string; origin: string }>).filter((i) => i.origin === 'c').map((i) => i.name).sort();

  it('has no index by trunk and state, and the claim of due callbacks still reads through the state index', async () => {
    expect(await indexes()).to.deep.equal(['callbacks_message_id_index', 'callbacks_state_next_attempt_at_index']);
    const plan = (await db.knex.raw(`explain query plan select id from callbacks where state = ? and next_attempt_at <= ? order by next_attempt_at limit 10`, ['pending', new Date().toISOString()])) as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join('\n')).to.contain('callbacks_state_next_attempt_at_index');
  });

  it('gives the index back when the migration is rolled back', async () => {
    expect(await indexes()).not.to.include('callbacks_trunk_id_state_index');
    await db.knex.migrate.down({ migrationSource });
    expect(await indexes()).to.include('callbacks_trunk_id_state_index');
  });
});
