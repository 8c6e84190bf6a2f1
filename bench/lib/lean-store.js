'use strict';
/**
 * The least a durable gateway writes per message, for bench/bare-gateway.js with `durable`: one
 * row per message in one table, written five times (inserted when accepted; updated when the
 * submit is answered, when the receipt comes, and when each of the two callbacks is delivered).
 * Two small indexes: the SMSC's message id, to find a receipt's message, and a partial one over
 * what a restart would have to pick up again (unsent messages, undelivered callbacks).
 *
 * Group commit as the platform does it on SQLite: one connection in WAL mode with
 * `synchronous = FULL`; writes queued while a round runs go in the next one; a round is BEGIN, one
 * prepared statement per kind of write with its rows as one JSON parameter, and COMMIT; what
 * depends on a write (the 201, the submit_sm, a callback) goes out once its COMMIT has returned.
 * Statements run one after another, in the order of a message's life, so a receipt's update in the
 * same round as its submit's finds the row already mapped.
 */
const sqlite3 = require('sqlite3');

const SCHEMA = [
  'PRAGMA journal_mode = WAL',
  'PRAGMA synchronous = FULL',
  'create table if not exists messages (' +
    'id text primary key, destination text not null, source text not null, content text not null, ' +
    'status text not null, smsc_id text, created_at text not null, submitted_at text, final_status text, final_at text, ' +
    'status_cb text, status_cb_at text, dlr_cb text, dlr_cb_at text)',
  'create unique index if not exists messages_smsc_id on messages (smsc_id) where smsc_id is not null',
  "create index if not exists messages_todo on messages (created_at) where status = 'accepted' or status_cb = 'pending' or dlr_cb = 'pending'",
];

const col = (i) => `json_extract(value, '$[${i}]')`;
const rows = (...names) => `(select ${names.map((n, i) => `${col(i)} as ${n}`).join(', ')} from json_each(?)) as w`;

/** The writes, in the order a message goes through them; each takes its rows as one JSON array. */
const WRITES = {
  accepted: `insert into messages (id, destination, source, content, status, created_at) select ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, 'accepted', ${col(4)} from json_each(?) order by key`,
  submitted: `update messages set status = 'submitted', smsc_id = w.smsc_id, submitted_at = w.at, status_cb = 'pending' from ${rows('id', 'smsc_id', 'at')} where messages.id = w.id and messages.status = 'accepted'`,
  final: `update messages set status = 'delivered', final_status = w.final_status, final_at = w.at, dlr_cb = 'pending' from ${rows('smsc_id', 'final_status', 'at')} where messages.smsc_id = w.smsc_id and messages.status = 'submitted'`,
  statusDone: `update messages set status_cb = 'delivered', status_cb_at = w.at from ${rows('id', 'at')} where messages.id = w.id and messages.status_cb = 'pending'`,
  dlrDone: `update messages set dlr_cb = 'delivered', dlr_cb_at = w.at from ${rows('id', 'at')} where messages.id = w.id and messages.dlr_cb = 'pending'`,
};
const ORDER = Object.keys(WRITES);

class LeanStore {
  /** @param {string} file  @param {{ rounds: number }} counts  rounds are counted here */
  constructor(file, counts) {
    this.file = file;
    this.counts = counts;
    this.queued = new Map(ORDER.map((k) => [k, []]));
    this.after = [];
    this.pending = 0;
    this.running = false;
  }

  async open() {
    this.db = await new Promise((resolve, reject) => {
      const db = new sqlite3.Database(this.file, (err) => (err ? reject(err) : resolve(db)));
    });
    for (const sql of SCHEMA) await this.exec(sql);
    this.begin = this.db.prepare('BEGIN');
    this.commit = this.db.prepare('COMMIT');
    this.statements = Object.fromEntries(ORDER.map((k) => [k, this.db.prepare(WRITES[k])]));
  }

  /** Queues a row of `kind`; `then` runs once it is committed. */
  write(kind, row, then) {
    this.queued.get(kind).push(row);
    if (then) this.after.push(then);
    this.pending++;
    if (!this.running) void this.drain();
  }

  async drain() {
    this.running = true;
    try {
      while (this.pending > 0) {
        await this.run(this.begin, []);
        // Taken once BEGIN has returned: what arrived during its round trip goes too.
        const batches = ORDER.map((k) => [k, this.queued.get(k)]).filter(([, r]) => r.length > 0);
        for (const k of ORDER) this.queued.set(k, []);
        const after = this.after;
        this.after = [];
        this.pending = 0;
        for (const [k, r] of batches) await this.run(this.statements[k], [JSON.stringify(r)]);
        await this.run(this.commit, []);
        this.counts.rounds++;
        for (const f of after) f();
      }
    } catch (err) {
      // A bench instrument: a failed write means the measurement is wrong, so say so and stop.
      console.error(`lean store: ${err.message}`);
      process.exit(1);
    } finally {
      this.running = false;
    }
  }

  /** Nothing queued and no round running. */
  get idle() {
    return this.pending === 0 && !this.running;
  }

  /** What the table holds: rows, and how many reached each state (the smoke test checks them). */
  summary() {
    const sql =
      "select count(*) as messages, coalesce(sum(status = 'delivered'), 0) as delivered, " +
      "coalesce(sum(status_cb = 'delivered'), 0) as statusCallbacks, coalesce(sum(dlr_cb = 'delivered'), 0) as dlrCallbacks from messages";
    return new Promise((resolve, reject) => this.db.get(sql, (err, row) => (err ? reject(err) : resolve(row))));
  }

  run(statement, params) {
    return new Promise((resolve, reject) => statement.run(params, (err) => (err ? reject(err) : resolve())));
  }

  exec(sql) {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }
}

module.exports = { LeanStore };
