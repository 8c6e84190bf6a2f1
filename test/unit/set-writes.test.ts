import { expect } from 'chai';
import { Database, openDatabase } from '../../control-plane/src/db/database';
import { insertChunks, insertValues, together } from '../../control-plane/src/db/set-writes';
import { createPgDatabase } from '../support/platform';

/*
 * The send path's multi-row INSERTs bypass knex's insert builder: on SQLite the rows travel as one
 * JSON parameter unpacked by json_each, on PostgreSQL as bound parameters in hand-written SQL.
 * Whatever a message may hold must come back byte for byte, with its SQL type, in row order.
 */

const AWKWARD = [
  'plain',
  "it's \"quoted\" \\ back\\slash",
  'emoji 😀 and ZWJ 👩‍👩‍👧 and RTL ‏שלום',
  'line\nbreak\ttab\r',
  '?? ? $1 :name @x -- not a comment /* nor this */',
  '{"looks":"like json"}',
  '[1,2,3]',
  'x'.repeat(5000),
  '',
];

function suite(name: string, open: () => Promise<{ db: Database; done(): Promise<void> }>) {
  describe(`multi-row INSERTs on ${name}`, () => {
    let db: Database;
    let done: () => Promise<void>;
    before(async function () {
      this.timeout(30_000);
      ({ db, done } = await open());
      await db.knex.schema.createTable('probe', (t) => {
        t.increments('n').primary();
        t.text('s').nullable();
        t.integer('i').nullable();
        t.string('tag', 8).nullable();
      });
    });
    after(async () => {
      await db.knex.schema.dropTableIfExists('probe');
      await done();
    });
    beforeEach(() => db.knex('probe').delete());

    it('keeps every string, number and null as written, in order', async () => {
      const rows = AWKWARD.map((s, k) => [s, k - 4, k % 3 === 0 ? null : `t${k}`]);
      await db.knex.transaction((trx) => together(trx, insertValues(trx, 'probe', ['s', 'i', 'tag'], rows)));
      const back = await db.knex('probe').orderBy('n').select('s', 'i', 'tag');
      expect(back.map((r) => [r.s, Number(r.i), r.tag])).to.deep.equal(rows);
    });

    it('writes undefined as NULL and takes rows of objects with different keys', async () => {
      await db.knex.transaction((trx) => together(trx, insertChunks(trx, 'probe', [{ s: 'a', i: 1 }, { s: undefined, tag: 'b' }, { i: 3 }])));
      const back = await db.knex('probe').orderBy('n').select('s', 'i', 'tag');
      expect(back.map((r) => [r.s, r.i === null ? null : Number(r.i), r.tag])).to.deep.equal([
        ['a', 1, null],
        [null, null, 'b'],
        [null, 3, null],
      ]);
    });

    it('writes 30,000 rows in one call (more than one statement where parameters are bound)', async () => {
      const rows = Array.from({ length: 30_000 }, (_, k) => [`m${k}`, k, null]);
      await db.knex.transaction((trx) => together(trx, insertValues(trx, 'probe', ['s', 'i', 'tag'], rows)));
      const [{ n }] = await db.knex('probe').count({ n: '*' });
      expect(Number(n)).to.equal(30_000);
      const last = await db.knex('probe').orderBy('n', 'desc').first('s', 'i');
      expect([last.s, Number(last.i)]).to.deep.equal(['m29999', 29999]);
    });

    it('binds shared columns once and gives every row the same values (a bulk send)', async () => {
      const rows = AWKWARD.map((s, k) => [s, k]);
      await db.knex.transaction((trx) => together(trx, insertValues(trx, 'probe', ['s', 'i'], rows, { columns: ['tag'], values: ['b\'ulk?'] })));
      const back = await db.knex('probe').orderBy('n').select('s', 'i', 'tag');
      expect(back.map((r) => [r.s, Number(r.i), r.tag])).to.deep.equal(rows.map((r) => [...r, "b'ulk?"]));
    });

    it('writes nothing when a row breaks a constraint, and the transaction fails', async () => {
      const bad = insertValues.bind(null);
      let failed = false;
      try {
        await db.knex.transaction((trx) => together(trx, [...bad(trx, 'probe', ['s', 'tag'], [['ok', 'short']]), ...bad(trx, 'probe', ['n', 's'], [[1, 'dup'], [1, 'dup']])]));
      } catch {
        failed = true;
      }
      expect(failed).to.equal(true);
      const [{ n }] = await db.knex('probe').count({ n: '*' });
      expect(Number(n)).to.equal(0);
    });
  });
}

suite('SQLite', async () => {
  const db = await openDatabase('sqlite://:memory:', { migrate: false });
  return { db, done: () => db.close() };
});

if (process.env.TEST_DATABASE_URL) {
  suite('PostgreSQL', async () => {
    const pg = await createPgDatabase(process.env.TEST_DATABASE_URL!);
    const db = await openDatabase(pg.url, { migrate: false });
    return {
      db,
      async done() {
        await db.close();
        await pg.drop();
      },
    };
  });
}
