'use strict';
/**
 * PostgreSQL for the two-instance runs: BENCH_DATABASE_URL when given (a fresh database is created
 * in it and dropped afterwards), otherwise a throwaway cluster started here like .ci/run does
 * (initdb + pg_ctl as user postgres on a free loopback port, default durability settings) and
 * removed at the end.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort, sh } = require('./procs');

async function withClient(url, fn) {
  const { Client } = require('pg');
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function startPostgres(log) {
  const name = `bench_${process.pid}_${Date.now().toString(36)}`;
  if (process.env.BENCH_DATABASE_URL) {
    const admin = process.env.BENCH_DATABASE_URL;
    await withClient(admin, (c) => c.query(`CREATE DATABASE ${name}`));
    const u = new URL(admin);
    u.pathname = `/${name}`;
    const version = await withClient(u.toString(), async (c) => (await c.query('SHOW server_version')).rows[0].server_version);
    return { url: u.toString(), version, source: 'BENCH_DATABASE_URL', stop: () => withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined) };
  }
  const bins = fs.existsSync('/usr/lib/postgresql') ? fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)) : [];
  const bin = bins.map((v) => `/usr/lib/postgresql/${v}/bin`).find((b) => fs.existsSync(`${b}/initdb`));
  if (!bin) return { skip: 'PostgreSQL server binaries not found (apt-get install postgresql) and BENCH_DATABASE_URL not set' };
  if (sh('id', ['postgres']).code !== 0) return { skip: 'no `postgres` user to run a throwaway cluster (set BENCH_DATABASE_URL instead)' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pg-'));
  fs.chownSync(dir, Number(sh('id', ['-u', 'postgres']).out.trim()), Number(sh('id', ['-g', 'postgres']).out.trim()));
  const port = await freePort();
  const su = (cmd) => sh('su', ['postgres', '-c', cmd]);
  log(`starting a throwaway PostgreSQL cluster on 127.0.0.1:${port}`);
  let r = su(`${bin}/initdb -D ${dir}/data -A trust -U postgres`);
  if (r.code !== 0) return { skip: `initdb failed: ${r.out.trim().split('\n').slice(-2).join(' ')}` };
  r = su(`${bin}/pg_ctl -D ${dir}/data -w -l ${dir}/log -o '-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=300' start`);
  if (r.code !== 0) return { skip: `pg_ctl start failed: ${r.out.trim().split('\n').slice(-2).join(' ')}` };
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const version = await withClient(url, async (c) => (await c.query('SHOW server_version')).rows[0].server_version);
  return {
    url,
    version,
    source: 'throwaway cluster (initdb, default settings: fsync on, synchronous_commit on)',
    stop: async () => {
      su(`${bin}/pg_ctl -D ${dir}/data -m fast stop`);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startPostgres };
