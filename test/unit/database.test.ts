import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Database, openDatabase } from '../../control-plane/src/db/database';

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
