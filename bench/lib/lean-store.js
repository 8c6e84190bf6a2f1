'use strict';
/**
 * The least a durable gateway writes per message, for bench/bare-gateway.js with `durable`: one
 * row per message in one table, written five times (inserted when accepted; updated when the
 * submit is answered, when the receipt comes, and when each of the two callbacks is delivered).
 * Two small indexes: the SMSC's message id, to find a receipt's message, and a partial one over
 * what a restart would have to pick up again (unsent messages, undelivered callbacks).
 *
 * Group commit as the platform does it on SQLite (control-plane/src/db/sqlite-client.ts): one
 * better-sqlite3 connection in WAL mode; writes queued while a round runs go in the next one; a
 * round is BEGIN, one prepared statement per write, COMMIT, run synchronously, then an fdatasync
 * of the WAL on the thread pool (`synchronous = NORMAL` plus that fdatasync is FULL's guarantee
 * without its fsync on the event loop); what depends on a write (the 201, the submit_sm, a callback)
 * goes out once that fdatasync has returned. Checkpoints as the platform runs them would need a
 * thread; here SQLite's own automatic checkpoint runs inside a COMMIT now and then. Statements run
 * in the order of a message's life, so a receipt's update in the same round as its submit's finds
 * the row already mapped.
 */
const fs = require('node:fs');
const BetterSqlite3 = require('better-sqlite3');

const SCHEMA = [
  'create table if not exists messages (' +
    'id text primary key, destination text not null, source text not null, content text not null, ' +
    'status text not null, smsc_id text, created_at text not null, submitted_at text, final_status text, final_at text, ' +
    'status_cb text, status_cb_at text, dlr_cb text, dlr_cb_at text)',
  'create unique index if not exists messages_smsc_id on messages (smsc_id) where smsc_id is not null',
  "create index if not exists messages_todo on messages (created_at) where status = 'accepted' or status_cb = 'pending' or dlr_cb = 'pending'",
];

/** The writes, in the order a message goes through them; each takes one row's values (the key, then the values). */
const WRITES = {
  accepted: "insert into messages (id, destination, source, content, status, created_at) values (?, ?, ?, ?, 'accepted', ?)",
  submitted: "update messages set status = 'submitted', smsc_id = ?, submitted_at = ?, status_cb = 'pending' where id = ? and status = 'accepted'",
  final: "update messages set status = 'delivered', final_status = ?, final_at = ?, dlr_cb = 'pending' where smsc_id = ? and status = 'submitted'",
  statusDone: "update messages set status_cb = 'delivered', status_cb_at = ? where id = ? and status_cb = 'pending'",
  dlrDone: "update messages set dlr_cb = 'delivered', dlr_cb_at = ? where id = ? and dlr_cb = 'pending'",
};
/** An insert binds the row as it is; an update's key comes last in its SQL. */
const bind = (kind, [key, ...values]) => (kind === 'accepted' ? [key, ...values] : [...values, key]);
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
    this.db = new BetterSqlite3(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    for (const sql of SCHEMA) this.db.exec(sql);
    this.wal = fs.openSync(`${this.file}-wal`, 'r');
    this.begin = this.db.prepare('BEGIN');
    this.commit = this.db.prepare('COMMIT');
    this.statements = Object.fromEntries(ORDER.map((k) => [k, this.db.prepare(WRITES[k])]));
  }

  /** Queues a row of `kind`; `then` runs once it is committed and on disk. */
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
        const batches = ORDER.map((k) => [k, this.queued.get(k)]).filter(([, r]) => r.length > 0);
        for (const k of ORDER) this.queued.set(k, []);
        const after = this.after;
        this.after = [];
        this.pending = 0;
        this.begin.run();
        for (const [k, rows] of batches) for (const r of rows) this.statements[k].run(...bind(k, r));
        this.commit.run();
        // Durable before anything that depends on it goes out; what arrives meanwhile waits for the next round.
        await new Promise((resolve, reject) => fs.fdatasync(this.wal, (err) => (err ? reject(err) : resolve())));
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
    return Promise.resolve(this.db.prepare(sql).get());
  }
}

module.exports = { LeanStore };
