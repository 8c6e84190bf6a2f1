'use strict';
/**
 * A per-statement probe for the platform's SQLite (better-sqlite3), loaded with node's --require:
 *   BENCH_NODE_ARGS="--require ./bench/sql-probe.js" SQL_PROBE_DIR=/tmp/probe npm run bench -- --only=e2e
 * In every thread that loads better-sqlite3 (the store thread, or the main one with STORE_THREAD=false)
 * it counts each prepared statement's calls, time (wall clock, so a checkpoint's fsync inside a COMMIT
 * counts) and rows read, by SQL text, and appends the running totals to
 * <SQL_PROBE_DIR>/sql-<pid>-<thread>.jsonl every SQL_PROBE_EVERY_MS (5,000). bench/sql-probe-summary.js
 * compares two windows of such a file. Diagnostics only: it costs the probed thread a little time per call.
 */
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { threadId } = require('node:worker_threads');

const dir = process.env.SQL_PROBE_DIR || require('node:os').tmpdir();
const everyMs = Number(process.env.SQL_PROBE_EVERY_MS) || 5000;
const stats = new Map();
const load = Module._load;
let patched = false;

Module._load = function probeLoad(request) {
  const exported = load.apply(this, arguments);
  if (!patched && request === 'better-sqlite3' && typeof exported === 'function') {
    patched = true;
    const prepare = exported.prototype.prepare;
    exported.prototype.prepare = function probedPrepare(sql) {
      const stmt = prepare.apply(this, arguments);
      const key = String(sql).replace(/\s+/g, ' ').trim();
      let s = stats.get(key);
      if (!s) stats.set(key, (s = { calls: 0, ns: 0n, rows: 0 }));
      for (const method of ['run', 'all', 'get']) {
        const original = stmt[method];
        stmt[method] = function probed() {
          const t = process.hrtime.bigint();
          try {
            const r = original.apply(this, arguments);
            if (method === 'all') s.rows += r.length;
            else if (method === 'get' && r !== undefined) s.rows += 1;
            return r;
          } finally {
            s.calls++;
            s.ns += process.hrtime.bigint() - t;
          }
        };
      }
      return stmt;
    };
  }
  return exported;
};

const file = path.join(dir, `sql-${process.pid}-${threadId}.jsonl`);
const dump = () => {
  if (stats.size === 0) return;
  const totals = [...stats].map(([sql, s]) => ({ sql, calls: s.calls, us: Number(s.ns / 1000n), rows: s.rows }));
  fs.appendFileSync(file, `${JSON.stringify({ t: Date.now(), totals })}\n`);
};
setInterval(dump, everyMs).unref();
process.on('exit', dump);
