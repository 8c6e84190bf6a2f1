#!/usr/bin/env node
// `npm test`: the whole suite on the embedded SQLite, then — when TEST_DATABASE_URL names a
// PostgreSQL server — every test that touches a database again on PostgreSQL (.ci/run starts a
// throwaway cluster and sets it). Each pass prints mocha's summary; the exit code is non-zero if any failed.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const mocha = path.join(__dirname, '..', 'node_modules', 'mocha', 'bin', 'mocha.js');
const run = (label, globs, env) => {
  console.log(`\n=== ${label} ===`);
  const r = spawnSync(process.execPath, [mocha, ...globs], { stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
};

const sqliteEnv = { TEST_DATABASE_URL: '' };
let status = run('SQLite (embedded default)', ['test/**/*.test.ts'], sqliteEnv);
if (process.env.TEST_DATABASE_URL) {
  status = run(`PostgreSQL (${new URL(process.env.TEST_DATABASE_URL).host})`, ['test/http/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/reliability/**/*.test.ts'], {}) || status;
} else {
  console.log('\nPostgreSQL pass skipped: set TEST_DATABASE_URL=postgres://user@host:port/postgres to run the database tests on PostgreSQL too.');
}
process.exit(status);
