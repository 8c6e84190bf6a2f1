import { expect } from 'chai';
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBuilt, MAIN_JS, ROOT } from '../support/build';

interface Started {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  stdout: () => string;
}

/** Starts the compiled control plane as `npm start` would, on port 0, and waits for its banner. */
function start(env: Record<string, string>): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN_JS], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: '0', ...env } });
    let err = '';
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      const m = /running at (http:\/\/\S+)/.exec(err);
      if (m && /\n\n$/.test(err)) resolve({ child, url: m[1]!, stderr: () => err, stdout: () => out });
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`no banner within 15 s: ${err}`)), 15_000).unref();
  });
}

function stop(s: Started): Promise<number | null> {
  return new Promise((resolve) => {
    s.child.removeAllListeners('exit');
    s.child.once('exit', (code) => resolve(code));
    s.child.kill('SIGTERM');
  });
}

describe('npm start (the compiled control plane)', function () {
  this.timeout(60_000);
  let dataDir: string;
  before(() => ensureBuilt());
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sms-out-start-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('prints the URL and a one-time admin token on first start, keeps data on restart, and exits 0 on SIGTERM', async () => {
    const first = await start({ DATA_DIR: dataDir });
    const token = /TRUNKCTL_TOKEN=(\S+)/.exec(first.stderr())?.[1];
    expect(token).to.match(/^sat_/);
    const created = await fetch(`${first.url}/v1/dids`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.api+json' },
      body: JSON.stringify({ data: { type: 'dids', attributes: { number: '12125551234' } } }),
    });
    expect(created.status).to.equal(201);
    expect(fs.existsSync(path.join(dataDir, 'trunks.sqlite3'))).to.equal(true);
    expect(fs.statSync(path.join(dataDir, 'secrets.key')).mode & 0o777).to.equal(0o600);
    expect(await stop(first)).to.equal(0);
    expect(first.stdout()).to.contain('"msg":"shutting down"');
    expect(first.stdout() + first.stderr().replace(token!, '')).to.not.contain(token!.slice(4));

    const second = await start({ DATA_DIR: dataDir });
    expect(second.stderr()).to.not.contain('TRUNKCTL_TOKEN=');
    const listed = await fetch(`${second.url}/v1/dids`, { headers: { authorization: `Bearer ${token}` } });
    expect((await listed.json()).meta.total).to.equal(1);
    expect(await stop(second)).to.equal(0);
  });

  it('accepts ADMIN_TOKEN from the environment and generates no other token', async () => {
    const s = await start({ DATA_DIR: dataDir, ADMIN_TOKEN: 'env-admin-token-1234567890' });
    expect(s.stderr()).to.not.contain('TRUNKCTL_TOKEN=');
    const res = await fetch(`${s.url}/v1/sms_trunks`, { headers: { authorization: 'Bearer env-admin-token-1234567890' } });
    expect(res.status).to.equal(200);
    expect(await stop(s)).to.equal(0);
  });

  it('fails at boot with every configuration problem listed and exit code 2', async () => {
    const result = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, [MAIN_JS], { env: { PATH: process.env.PATH ?? '', PORT: 'x', DATABASE_URL: 'mysql://db', LOG_LEVEL: 'chatty' } });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.once('exit', (code) => resolve({ code, err }));
    });
    expect(result.code).to.equal(2);
    expect(result.err).to.contain('PORT').and.contain('DATABASE_URL').and.contain('LOG_LEVEL');
  });
});
