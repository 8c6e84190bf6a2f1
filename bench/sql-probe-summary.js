#!/usr/bin/env node
'use strict';
/**
 * Compares two windows of a bench/sql-probe.js file: per statement, calls, time per call and rows in
 * an early window and a late one (fractions of the file's snapshots), the statements with the most
 * time in the late window first.
 *   node bench/sql-probe-summary.js <sql-….jsonl> [top=25] [early=0.25,0.35] [late=0.85,0.95]
 */
const fs = require('node:fs');

const [file, topArg, earlyArg, lateArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/sql-probe-summary.js <sql-….jsonl> [top] [early=a,b] [late=a,b]');
  process.exit(2);
}
const snaps = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
if (snaps.length < 2) {
  console.error(`${file}: ${snaps.length} snapshot(s); two or more are needed`);
  process.exit(1);
}
const index = (f) => Math.min(snaps.length - 1, Math.floor((snaps.length - 1) * f));
const range = (arg, dflt) => (arg || dflt).split(',').map(Number);
/** The totals between two snapshots, at fractions of the file; at least one snapshot apart. */
const windowOf = ([a, b]) => {
  const i = Math.min(index(a), snaps.length - 2);
  const from = snaps[i];
  const to = snaps[Math.max(index(b), i + 1)];
  const before = new Map(from.totals.map((x) => [x.sql, x]));
  const out = new Map();
  for (const x of to.totals) {
    const o = before.get(x.sql) || { calls: 0, us: 0, rows: 0 };
    out.set(x.sql, { calls: x.calls - o.calls, us: x.us - o.us, rows: x.rows - o.rows });
  }
  return { seconds: (to.t - from.t) / 1000, bySql: out };
};
const early = windowOf(range(earlyArg, '0.25,0.35'));
const late = windowOf(range(lateArg, '0.85,0.95'));
const sum = (w) => [...w.bySql.values()].reduce((a, x) => a + x.us, 0) / 1e6;
console.log(`early window ${early.seconds.toFixed(1)} s: ${sum(early).toFixed(2)} s in statements; late window ${late.seconds.toFixed(1)} s: ${sum(late).toFixed(2)} s`);
console.log('early: calls, µs/call, rows | late: calls, µs/call, rows | statement');
const rows = [...late.bySql].sort((a, b) => b[1].us - a[1].us).slice(0, Number(topArg || 25));
const per = (x) => (x.calls ? (x.us / x.calls).toFixed(1) : '-').padStart(8);
for (const [sql, l] of rows) {
  const e = early.bySql.get(sql) || { calls: 0, us: 0, rows: 0 };
  console.log(`${String(e.calls).padStart(7)} ${per(e)} ${String(e.rows).padStart(7)} | ${String(l.calls).padStart(7)} ${per(l)} ${String(l.rows).padStart(7)} | ${sql.slice(0, 120)}`);
}
