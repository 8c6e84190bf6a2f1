import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';

const ROOT = path.resolve(__dirname, '../..');

/*
 * bench/sql-probe.js, the per-statement probe PERFORMANCE.md's figures came from: loaded with
 * --require, it must count what a thread's better-sqlite3 statements did, in a worker thread too.
 */
describe('bench SQL probe', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sql-probe-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('counts calls and rows per statement in a worker thread, and the summary reads them', () => {
    // A worker evaluated from the repository's directory, so that it finds better-sqlite3 there.
    const worker = `
      const Database = require('better-sqlite3');
      const db = new Database(':memory:');
      db.prepare('create table t (x integer)').run();
      const ins = db.prepare('insert into t (x) values (?)');
      for (let i = 0; i < 7; i++) ins.run(i);
      db.prepare('select x from t where x < ?').all(3);
      db.prepare('select x from t where x < ?').all(5);`;
    const run = spawnSync(process.execPath, ['--require', path.join(ROOT, 'bench/sql-probe.js'), '-e', `new (require('node:worker_threads').Worker)(${JSON.stringify(worker)}, { eval: true })`], {
      cwd: ROOT,
      env: { ...process.env, SQL_PROBE_DIR: dir },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).to.equal(0);
    const files = fs.readdirSync(dir);
    // Only the worker (thread 1) used SQLite.
    expect(files).to.have.length(1);
    expect(files[0]).to.match(/^sql-\d+-1\.jsonl$/);
    const last = fs.readFileSync(path.join(dir, files[0]!), 'utf8').trim().split('\n').pop()!;
    const totals = new Map((JSON.parse(last).totals as Array<{ sql: string; calls: number; rows: number }>).map((x) => [x.sql, x]));
    expect(totals.get('insert into t (x) values (?)')).to.include({ calls: 7, rows: 0 });
    // Two prepares of one text add up under one key: 3 rows, then 5.
    expect(totals.get('select x from t where x < ?')).to.include({ calls: 2, rows: 8 });

    // The summary compares windows between snapshots: two empty ones first, then what the probe wrote.
    const windows = path.join(dir, 'windows.jsonl');
    const t = JSON.parse(last).t as number;
    fs.writeFileSync(windows, `${JSON.stringify({ t: t - 5000, totals: [] })}\n${JSON.stringify({ t: t - 2000, totals: [] })}\n${last}\n`);
    const summary = spawnSync(process.execPath, [path.join(ROOT, 'bench/sql-probe-summary.js'), windows, '5', '0,0.5', '0.5,1'], { encoding: 'utf8' });
    expect(summary.status, summary.stderr).to.equal(0);
    expect(summary.stdout).to.match(/early window 3\.0 s: 0\.00 s in statements; late window 2\.0 s/);
    // early (empty): 0 calls | late: 7 calls, 0 rows | the statement
    expect(summary.stdout).to.match(/^\s+0\s+-\s+0 \|\s+7\s+[\d.]+\s+0 \| insert into t \(x\) values \(\?\)$/m);
  });
});
