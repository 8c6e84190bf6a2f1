import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Knex } from 'knex';
import { Database, openDatabase } from '../../control-plane/src/db/database';
import { CommitGroup, TransactionBatcher } from '../../control-plane/src/db/transaction-batcher';

/*
 * The group commit on a real SQLite file: members' batches share one transaction per round,
 * `alongside` members write while the others write in turn and can wait for them (chainDone),
 * items submitted while BEGIN is out still join that round, and a failed round is committed batch
 * by batch so that a bad item fails alone.
 */

describe('CommitGroup (group commit rounds on SQLite)', () => {
  let dir: string;
  let db: Database;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commit-group-'));
    db = await openDatabase(`sqlite://${path.join(dir, 'test.sqlite3')}`, { migrate: false });
    await db.knex.schema.createTable('t', (t) => {
      t.string('k').primary();
      t.string('member').notNullable();
    });
  });
  afterEach(async () => {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const insert = (trx: Knex.Transaction, member: string, keys: string[]) => trx('t').insert(keys.map((k) => ({ k, member })));
  const keys = async () => (await db.knex('t').orderBy('k')).map((r: { k: string; member: string }) => `${r.member}:${r.k}`);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('writes alongside members while the chain is still writing, and commits the round once', async () => {
    const group = new CommitGroup(db.knex);
    const events: string[] = [];
    const chain = new TransactionBatcher<string>(db.knex, async (trx, items) => {
      events.push('chain start');
      await sleep(50);
      await insert(trx, 'chain', items);
      events.push('chain end');
      return items.map(() => undefined);
    }, 100, undefined, group);
    const beside = new TransactionBatcher<string>(db.knex, async (trx, items) => {
      events.push('beside start');
      await insert(trx, 'beside', items);
      events.push('beside end');
      return items.map(() => undefined);
    }, 100, undefined, group, true);

    await Promise.all([chain.submit('a'), beside.submit('b')]);
    expect(events).to.deep.equal(['chain start', 'beside start', 'beside end', 'chain end']);
    expect(await keys()).to.deep.equal(['chain:a', 'beside:b']);
  });

  it("gives an alongside member chainDone, which settles after the chain's writes", async () => {
    const group = new CommitGroup(db.knex);
    new TransactionBatcher<string>(db.knex, async (trx, items) => {
      await sleep(30);
      await insert(trx, 'chain', items);
      return items.map(() => undefined);
    }, 100, undefined, group).submit('x');
    const reads: number[] = [];
    const reader = new TransactionBatcher<string, number>(db.knex, async (trx, items, chainDone) => {
      reads.push((await trx('t').where({ k: 'x' })).length);
      await chainDone;
      reads.push((await trx('t').where({ k: 'x' })).length);
      return items.map(() => reads[reads.length - 1]!);
    }, 100, undefined, group, true);

    expect(await reader.submit('read')).to.equal(1);
    expect(reads).to.deep.equal([0, 1]);
  });

  it('takes into the round what is submitted while its BEGIN is out', async () => {
    const group = new CommitGroup(db.knex);
    const batches: string[][] = [];
    const member = new TransactionBatcher<string>(db.knex, async (trx, items) => {
      batches.push(items);
      await insert(trx, 'm', items);
      return items.map(() => undefined);
    }, 100, undefined, group);

    const first = member.submit('1'); // starts the round: BEGIN goes out
    const second = member.submit('2'); // before BEGIN is back
    await Promise.all([first, second]);
    expect(batches).to.deep.equal([['1', '2']]);
  });

  it('commits a failed round batch by batch, so only the bad item fails and nothing of it is written', async () => {
    const group = new CommitGroup(db.knex);
    const picky = new TransactionBatcher<string>(db.knex, async (trx, items) => {
      await insert(trx, 'picky', items);
      if (items.includes('bad')) throw new Error('bad item');
      return items.map(() => undefined);
    }, 100, undefined, group);
    const other = new TransactionBatcher<string>(db.knex, async (trx, items) => {
      await insert(trx, 'other', items);
      return items.map(() => undefined);
    }, 100, undefined, group, true);

    const results = await Promise.allSettled([picky.submit('good'), picky.submit('bad'), other.submit('fine')]);
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(await keys()).to.deep.equal(['other:fine', 'picky:good']);
  });
});
