import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PROGRESS_MIN_BYTES } from '../../control-plane/src/cli/did-import';
import { run } from '../../control-plane/src/cli/trunkctl';
import { ensureBuilt, ROOT } from '../support/build';
import { startTestPlatform, TestPlatform } from '../support/platform';
import { CommandResult, runCommand } from '../support/process';

const BIN = path.join(ROOT, 'control-plane/bin/trunkctl.js');

type Result = CommandResult;

const lines = (s: string) => s.split('\n').filter((l) => l !== '');

describe('trunkctl', function () {
  let t: TestPlatform;
  let dir: string;
  let seq = 0;
  const unique = (prefix: string) => `${prefix}-${++seq}`;
  const env = () => ({ TRUNKCTL_URL: t.url, TRUNKCTL_TOKEN: t.token });

  /** In-process run of the TypeScript source. */
  async function cli(args: string[], envVars: Record<string, string | undefined> = env()): Promise<Result> {
    let stdout = '';
    let stderr = '';
    const code = await run(['node', 'trunkctl', ...args], {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: envVars,
    });
    return { code, stdout, stderr };
  }

  /** The real compiled binary, as a user or CI job runs it. */
  function bin(args: string[], envVars: Record<string, string> = env()): Promise<Result> {
    return runCommand(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...envVars } });
  }

  function writeFile(name: string, content: unknown): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  const expectOneErrorLine = (r: Result) => {
    expect(lines(r.stderr), r.stderr).to.have.length(1);
    expect(r.stderr).to.match(/^trunkctl: /);
  };

  before(async function () {
    this.timeout(120_000);
    ensureBuilt();
    t = await startTestPlatform();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trunkctl-test-'));
    const seed = await t.api('POST', '/v1/dids/import', '12125550100\n12125550101\n12125550102\n12125550103,sms_in\n', { 'content-type': 'text/csv' });
    expect(seed.status, seed.text).to.equal(200);
  });

  after(async () => {
    await t?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('help', () => {
    it('lists every command in --help from the compiled binary', async () => {
      const r = await bin(['--help'], {});
      expect(r.code).to.equal(0);
      for (const command of ['serve', 'dids', 'sets', 'trunks', 'creds', 'token']) expect(r.stdout).to.match(new RegExp(`^  ${command} `, 'm'));
      expect(r.stdout).to.contain('TRUNKCTL_URL').and.contain('TRUNKCTL_TOKEN');
    });

    it('documents the trunk spec format in trunks apply --help', async () => {
      const r = await cli(['trunks', 'apply', '--help'], {});
      expect(r.code).to.equal(0);
      for (const key of ['callback_url', 'allowed_ips', 'allow_any_did_as_source', 'outgoing_dids', 'outgoing_did_sets', 'dlr_events', 'blocked', 'external_reference_id']) {
        expect(r.stdout).to.contain(`"${key}"`);
      }
    });
  });

  describe('dids', () => {
    it('imports DIDs from a CSV file, then reports them unchanged on a second import', async () => {
      const file = writeFile('dids.csv', 'number,capabilities,description\n13125550100,sms_out,Chicago\n13125550101,sms_out;sms_in,\n');
      const first = await cli(['dids', 'import', file]);
      // Not a TTY here, so no progress bar: stderr stays empty for scripts.
      expect(first).to.deep.equal({ code: 0, stdout: 'imported 2 rows: 2 created, 0 updated, 0 unchanged\n', stderr: '' });
      const second = await cli(['dids', 'import', file]);
      expect(second.stdout).to.equal('imported 2 rows: 0 created, 0 updated, 2 unchanged\n');
      const did = await t.api('GET', '/v1/dids/13125550101');
      expect(did.body.data.attributes.capabilities).to.have.members(['sms_out', 'sms_in']);
    });

    it('shows upload progress on an interactive stderr when the file is large', async () => {
      const rows = Array.from({ length: 2500 }, (_, i) => `1646${String(i).padStart(7, '0')},sms_out,${'x'.repeat(250)}`);
      const file = writeFile('large.csv', rows.join('\n'));
      expect(fs.statSync(file).size).to.be.greaterThan(PROGRESS_MIN_BYTES);
      let stderr = '';
      let stdout = '';
      const code = await run(['node', 'trunkctl', 'dids', 'import', file], {
        stdout: { write: (s: string) => (stdout += s) },
        stderr: { write: (s: string) => (stderr += s), isTTY: true },
        env: env(),
      });
      expect(code, stderr).to.equal(0);
      expect(stderr).to.match(/uploading \[=+\] 100% \| \d+ KiB of \d+ KiB/);
      expect(stdout).to.equal('imported 2500 rows: 2500 created, 0 updated, 0 unchanged\n');
    });

    it('imports DIDs from a JSON array and from a JSON:API document', async () => {
      const array = writeFile('dids.json', [{ number: '14155550100', capabilities: ['sms_out'], description: 'SF' }]);
      expect((await cli(['dids', 'import', array])).stdout).to.equal('imported 1 row: 1 created, 0 updated, 0 unchanged\n');
      const doc = writeFile('dids-doc.json', { data: [{ type: 'dids', attributes: { number: '14155550100', capabilities: ['sms_out'], description: 'San Francisco' } }] });
      const r = await cli(['--json', 'dids', 'import', doc]);
      expect(r.code).to.equal(0);
      expect(JSON.parse(r.stdout).meta).to.deep.equal({ rows: 1, created: 0, updated: 1, unchanged: 0 });
    });

    it('fails when a CSV row is bad, names the row on one line and imports nothing', async () => {
      const file = writeFile('bad.csv', '15125550100,sms_out,ok\n0123,sms_out,bad number\n');
      const r = await cli(['dids', 'import', file]);
      expect(r.code).to.equal(1);
      expectOneErrorLine(r);
      expect(r.stderr).to.match(/^trunkctl: 400 row 2: \S+ .*\(\/data\/1\/attributes\/number\)$/m);
      expect((await t.api('GET', '/v1/dids?filter[number]=15125550100')).body.meta.total).to.equal(0);
    });

    it('fails when the import file is neither .csv nor .json', async () => {
      const r = await cli(['dids', 'import', writeFile('dids.txt', '12125550100\n')]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain('must end in .csv or .json');
    });

    it('lists DIDs as an aligned table, filtered by digits and capability, a page at a time', async () => {
      const r = await cli(['dids', 'list', '--filter', '121255501', '--capability', 'sms_out', '--size', '2']);
      expect(r.code, r.stderr).to.equal(0);
      const out = lines(r.stdout);
      expect(out[0]).to.match(/^NUMBER\s+CAPABILITIES\s+DESCRIPTION$/);
      expect(out.slice(1, 3).map((l) => l.split(/\s+/)[0])).to.deep.equal(['12125550100', '12125550101']);
      expect(out[1]!.indexOf('sms_out')).to.equal(out[0]!.indexOf('CAPABILITIES'));
      expect(out[3]).to.equal('page 1 of 2 (3 DIDs); next: --page 2');
      const json = await cli(['--json', 'dids', 'list', '--filter', '121255501', '--capability', 'sms_out', '--page', '2', '--size', '2']);
      expect(JSON.parse(json.stdout).data.map((d: any) => d.id)).to.deep.equal(['12125550102']);
    });
  });

  describe('sets', () => {
    it('applies a DID set spec idempotently and lists it', async () => {
      const name = unique('set');
      const file = writeFile('set.json', { name, dids: ['12125550100', 12125550101] });
      const first = await cli(['sets', 'apply', '-f', file]);
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stdout).to.match(new RegExp(`^DID set "${name}": created \\(id \\S+, version 1\\)\\n$`));
      expect((await cli(['sets', 'apply', '-f', file])).stdout).to.match(/: unchanged \(id \S+, version 1\)\n$/);
      const list = await cli(['sets', 'list']);
      expect(lines(list.stdout)[0]).to.match(/^NAME\s+ID\s+DIDS\s+VERSION$/);
      expect(list.stdout).to.match(new RegExp(`^${name}\\s+\\S+\\s+2\\s+1$`, 'm'));
    });

    it('deletes a DID set by name', async () => {
      const name = unique('set');
      await cli(['sets', 'apply', '-f', writeFile('set.json', { name, dids: ['12125550100'] })]);
      const r = await cli(['sets', 'delete', name]);
      expect(r.code, r.stderr).to.equal(0);
      expect((await t.api('GET', `/v1/did_sets?filter[name]=${name}`)).body.meta.total).to.equal(0);
    });

    it('fails when a set spec has an unknown key', async () => {
      const r = await cli(['sets', 'apply', '-f', writeFile('set.json', { name: 'x', numbers: [] })]);
      expect(r.code).to.equal(1);
      expectOneErrorLine(r);
      expect(r.stderr).to.contain('unknown key "numbers"');
    });
  });

  describe('trunks', () => {
    it('applies a spec with the compiled binary; applying it again is unchanged at the same version', async () => {
      const setName = unique('set');
      await cli(['sets', 'apply', '-f', writeFile('set.json', { name: setName, dids: ['12125550101'] })]);
      const name = unique('trunk');
      const spec = {
        name,
        callback_url: 'https://example.com/dlr',
        allowed_ips: ['203.0.113.0/24'],
        allow_any_did_as_source: false,
        outgoing_dids: ['12125550100'],
        outgoing_did_sets: [setName],
        dlr_events: true,
      };
      const file = writeFile('trunk.json', spec);
      const first = await bin(['trunks', 'apply', '-f', file]);
      expect(first.code, first.stderr).to.equal(0);
      const [, id] = /created \(id (\S+), version 1\)/.exec(first.stdout) ?? [];
      expect(id, first.stdout).to.be.a('string');
      const second = await bin(['trunks', 'apply', '-f', file]);
      expect(second.stdout).to.equal(`trunk "${name}": unchanged (id ${id}, version 1)\n`);
      const trunk = (await t.api('GET', `/v1/sms_trunks/${id}`)).body.data;
      const set = (await t.api('GET', `/v1/did_sets?filter[name]=${setName}`)).body.data[0];
      expect(trunk.relationships.outgoing_did_sets.data).to.deep.equal([{ type: 'did_sets', id: set.id }]);
      expect(trunk.attributes).to.include({ version: 1, dlr_events: true, callback_url: 'https://example.com/dlr' });
    });

    it('keeps the same trunk when a spec with external_reference_id is renamed', async () => {
      const ref = unique('crm');
      const before = await cli(['--json', 'trunks', 'apply', '-f', writeFile('t.json', { name: unique('old'), external_reference_id: ref })]);
      const newName = unique('new');
      const after = await cli(['trunks', 'apply', '-f', writeFile('t.json', { name: newName, external_reference_id: ref })]);
      const id = JSON.parse(before.stdout).data.id;
      expect(after.stdout).to.equal(`trunk "${newName}": updated (id ${id}, version 2)\n`);
    });

    it('applies every spec of an array file in order', async () => {
      const names = [unique('a'), unique('b')];
      const r = await cli(['trunks', 'apply', '-f', writeFile('many.json', names.map((name) => ({ name })))]);
      expect(r.code, r.stderr).to.equal(0);
      expect(lines(r.stdout).map((l) => l.replace(/ \(id .*/, ''))).to.deep.equal(names.map((n) => `trunk "${n}": created`));
    });

    it('fails when allowed_ips holds a CIDR with host bits, with exit 1 and a one-line reason', async () => {
      const name = unique('bad-cidr');
      const r = await bin(['trunks', 'apply', '-f', writeFile('bad.json', { name, allowed_ips: ['10.0.0.5/24'] })]);
      expect(r.code).to.equal(1);
      expectOneErrorLine(r);
      expect(r.stderr).to.match(/^trunkctl: 400 ALLOWED_IP_INVALID allowed_ips\[0\] "10\.0\.0\.5\/24" has host bits .* \(\/data\/attributes\/allowed_ips\/0\)\n$/);
      expect(r.stdout).to.equal('');
      expect((await t.api('GET', `/v1/sms_trunks?filter[name]=${name}`)).body.meta.total).to.equal(0);
    });

    it('fails when a spec names a DID set that does not exist', async () => {
      const r = await cli(['trunks', 'apply', '-f', writeFile('t.json', { name: unique('t'), allow_any_did_as_source: false, outgoing_did_sets: ['no-such-set'] })]);
      expect(r.code).to.equal(1);
      expectOneErrorLine(r);
      expect(r.stderr).to.contain('DID set "no-such-set" does not exist');
    });

    it('fails with a summary line first when the API reports several errors', async () => {
      const r = await cli(['trunks', 'apply', '-f', writeFile('t.json', { name: unique('t'), allowed_ips: ['300.1.1.1', '10.0.0.5/24'], callback_url: 'nope' })]);
      expect(r.code).to.equal(1);
      const [first, ...rest] = lines(r.stderr);
      expect(first).to.match(/^trunkctl: 400 \S+ .* \(\+2 more\)$/);
      expect(rest).to.have.length(2);
      rest.forEach((l) => expect(l).to.match(/^ {2}[A-Z_]+ .*\(\/data\/attributes\/\S+\)$/));
    });

    it('gets a trunk by name or id, lists it, and deletes it', async () => {
      const name = unique('crud');
      const applied = await cli(['--json', 'trunks', 'apply', '-f', writeFile('t.json', { name, allow_any_did_as_source: false, outgoing_dids: ['12125550102'] })]);
      const id = JSON.parse(applied.stdout).data.id;

      const byName = await cli(['trunks', 'get', name]);
      expect(byName.code, byName.stderr).to.equal(0);
      expect(byName.stdout).to.match(new RegExp(`^id:\\s+${id}$`, 'm')).and.match(/^outgoing_dids:\s+12125550102$/m);
      const byId = await cli(['--json', 'trunks', 'get', id]);
      expect(JSON.parse(byId.stdout).data.attributes.name).to.equal(name);

      const list = await cli(['trunks', 'list']);
      expect(lines(list.stdout)[0]).to.match(/^NAME\s+ID\s+USERNAME\s+SOURCE DIDS\s+BLOCKED\s+VERSION$/);
      expect(list.stdout).to.match(new RegExp(`^${name}\\s+${id}\\s+out_\\S+\\s+1 DID\\s+no\\s+1$`, 'm'));

      expect((await cli(['trunks', 'delete', name])).stdout).to.equal(`trunk "${name}" deleted (${id})\n`);
      expect((await t.api('GET', `/v1/sms_trunks/${id}`)).status).to.equal(404);
      const gone = await cli(['trunks', 'get', id]);
      expect(gone.code).to.equal(1);
      expect(gone.stderr).to.equal(`trunkctl: no trunk with the id or name "${id}"\n`);
    });
  });

  describe('creds', () => {
    let trunkName: string;
    let trunkId: string;
    beforeEach(async () => {
      trunkName = unique('creds');
      const r = await cli(['--json', 'trunks', 'apply', '-f', writeFile('t.json', { name: trunkName })]);
      trunkId = JSON.parse(r.stdout).data.id;
    });

    it('prints env-format credentials from the compiled binary that match the API', async () => {
      const r = await bin(['creds', 'show', trunkName, '--format', 'env']);
      expect(r.code, r.stderr).to.equal(0);
      const api = (await t.api('GET', `/v1/sms_trunks/${trunkId}/credentials`)).body.data.attributes;
      expect(r.stdout).to.equal(`SMS_OUT_USERNAME=${api.username}\nSMS_OUT_PASSWORD=${api.password}\nSMS_OUT_URL=${api.host}\n`);
      expect(api.host).to.equal(`${t.url}/outbound_messages`);
    });

    it('regenerates the password; with --grace the old one stays valid for a while', async () => {
      const old = (await t.api('GET', `/v1/sms_trunks/${trunkId}/credentials`)).body.data.attributes.password;
      const r = await cli(['creds', 'regenerate', trunkName, '--grace', '300']);
      expect(r.code, r.stderr).to.equal(0);
      const now = (await t.api('GET', `/v1/sms_trunks/${trunkId}/credentials`)).body.data.attributes;
      expect(now.password).to.not.equal(old);
      expect(r.stdout).to.match(new RegExp(`^password:\\s+${now.password}$`, 'm')).and.match(/^previous password valid until:\s+\d{4}-/m);
    });

    it('shares credentials through a one-time URL that can be redeemed once', async () => {
      const r = await cli(['creds', 'share', trunkName, '--expires', '600', '--recipient', 'ops team']);
      expect(r.code, r.stderr).to.equal(0);
      const [url, note] = lines(r.stdout);
      expect(url).to.match(new RegExp(`^${t.url}/share/\\S+$`));
      expect(note).to.match(/expires \d{4}-\d\d-\d\dT/);
      const redeem = () => fetch(url!, { method: 'POST', headers: { accept: 'application/vnd.api+json' } });
      const first = await redeem();
      expect(first.status).to.equal(200);
      const creds = (await t.api('GET', `/v1/sms_trunks/${trunkId}/credentials`)).body.data.attributes;
      expect(((await first.json()) as any).data.attributes.password).to.equal(creds.password);
      expect((await redeem()).status).to.equal(410);
    });

    it('fails when --format is not text, env or json', async () => {
      const r = await cli(['creds', 'show', trunkName, '--format', 'yaml']);
      expect(r.code).to.equal(2);
      expectOneErrorLine(r);
    });
  });

  describe('token', () => {
    it('creates an admin token that the API then accepts', async () => {
      const name = unique('ci');
      const r = await cli(['token', 'create', name]);
      expect(r.code, r.stderr).to.equal(0);
      const token = r.stdout.trim();
      expect(token).to.match(/^sat_\S+$/);
      expect(r.stderr).to.contain(`"${name}"`).and.not.contain(token);
      const used = await cli(['trunks', 'list'], { TRUNKCTL_URL: t.url, TRUNKCTL_TOKEN: token });
      expect(used.code, used.stderr).to.equal(0);
    });
  });

  describe('configuration and connection errors', () => {
    it('fails with exit 2 naming TRUNKCTL_URL when it is not set (compiled binary)', async () => {
      const r = await bin(['trunks', 'list'], { TRUNKCTL_TOKEN: t.token });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal('trunkctl: set TRUNKCTL_URL (or pass --url); `trunkctl serve` prints the values on first start\n');
    });

    it('fails with exit 2 naming TRUNKCTL_TOKEN when it is not set', async () => {
      const r = await cli(['dids', 'list'], { TRUNKCTL_URL: t.url });
      expect(r.code).to.equal(2);
      expectOneErrorLine(r);
      expect(r.stderr).to.contain('set TRUNKCTL_TOKEN (or pass --token)');
    });

    it('lets --url and --token override the environment', async () => {
      const r = await cli(['--url', t.url, '--token', t.token, 'trunks', 'list'], { TRUNKCTL_URL: 'http://127.0.0.1:9', TRUNKCTL_TOKEN: 'wrong' });
      expect(r.code, r.stderr).to.equal(0);
    });

    it('fails with one line naming the URL when the server cannot be reached', async () => {
      // A port that was just free: nothing listens there, so the connection is refused.
      const server = net.createServer().listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      const port = (server.address() as net.AddressInfo).port;
      await new Promise((resolve) => server.close(resolve));
      const r = await cli(['trunks', 'list'], { TRUNKCTL_URL: `http://127.0.0.1:${port}`, TRUNKCTL_TOKEN: t.token });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`trunkctl: could not reach http://127.0.0.1:${port} (ECONNREFUSED); check TRUNKCTL_URL and that the control plane is running\n`);
    });

    it('fails on a rejected token without printing it', async () => {
      const token = 'not-a-real-token-0123456789';
      const r = await cli(['trunks', 'list'], { TRUNKCTL_URL: t.url, TRUNKCTL_TOKEN: token });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^trunkctl: 401 ADMIN_TOKEN_INVALID /);
      expect(r.stderr + r.stdout).to.not.contain(token);
    });

    it('fails with exit 2 on an unknown command', async () => {
      const r = await cli(['trunks', 'lst']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal("trunkctl: unknown command 'lst' (Did you mean list?)\n");
    });
  });

  describe('serve', () => {
    it('starts the control plane from the compiled binary and stops on SIGTERM', async function () {
      this.timeout(30_000);
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trunkctl-serve-'));
      const child = spawn(process.execPath, [BIN, 'serve'], {
        env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      try {
        let banner = '';
        const url = await new Promise<string>((resolve, reject) => {
          child.stderr.on('data', (d) => {
            banner += d;
            const m = /TRUNKCTL_URL=(\S+)[\s\S]*TRUNKCTL_TOKEN=(\S+)/.exec(banner);
            if (m) resolve(m[1]!);
          });
          child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${banner}`)));
        });
        const token = /TRUNKCTL_TOKEN=(\S+)/.exec(banner)![1]!;
        const r = await bin(['trunks', 'list'], { TRUNKCTL_URL: url, TRUNKCTL_TOKEN: token });
        expect(r, r.stderr).to.include({ code: 0, stdout: 'no trunks\n' });
        const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        expect(await exited).to.equal(0);
      } finally {
        child.kill('SIGKILL');
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});
