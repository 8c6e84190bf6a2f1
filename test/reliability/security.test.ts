import { expect } from 'chai';
import crypto from 'node:crypto';
import dns from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { safeEqual } from '../../control-plane/src/shared/secrets';
import { ensureBuilt } from '../support/build';
import { CallbackReceiver } from '../support/callback-receiver';
import { createPgDatabase, doc, startTestPlatform, TestPlatform } from '../support/platform';
import { startServer, ServerProcess } from '../support/process';
import { basic, request, sendSms, single } from '../support/send-client';

/*
 * Suite 5 of the reliability plan, the parts test/e2e/security.test.ts does not cover:
 * constant-time comparison of every presented secret, secrets absent from the log of a whole run
 * of the compiled server, the SSRF guard against DNS rebinding, and trunk isolation (admin versus
 * trunk credentials, and a trunk guessing another trunk's message ids).
 */

const SOURCE = '12125551234';
const counts = { timingSafeEqualCalls: 0, secretsChecked: 0, logBytes: 0, leaked: 0, rebindingRefused: 0, guesses: 0 };

/** Records every crypto.timingSafeEqual call while `fn` runs (the function is looked up at call time, so patching the module object sees them). */
async function spyTimingSafeEqual<T>(fn: () => Promise<T>): Promise<{ result: T; calls: Array<[Buffer, Buffer]> }> {
  const original = crypto.timingSafeEqual;
  const calls: Array<[Buffer, Buffer]> = [];
  (crypto as { timingSafeEqual: typeof original }).timingSafeEqual = (a, b) => {
    calls.push([Buffer.from(a as Uint8Array), Buffer.from(b as Uint8Array)]);
    return original(a, b);
  };
  try {
    const result = await fn();
    counts.timingSafeEqualCalls += calls.length;
    return { result, calls };
  } finally {
    (crypto as { timingSafeEqual: typeof original }).timingSafeEqual = original;
  }
}

const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest();
const sawDigestOf = (calls: Array<[Buffer, Buffer]>, secret: string) => calls.some(([a, b]) => a.equals(sha256(secret)) || b.equals(sha256(secret)));

describe('reliability: security', () => {
  after(() => {
    // eslint-disable-next-line no-console
    console.log(
      `      security[${process.env.TEST_DATABASE_URL ? 'postgres' : 'sqlite'}]: timingSafeEqual_calls=${counts.timingSafeEqualCalls} secrets_checked=${counts.secretsChecked} ` +
        `log_bytes=${counts.logBytes} leaked=${counts.leaked} rebinding_refused=${counts.rebindingRefused} id_guesses=${counts.guesses} (all 404)`,
    );
  });

  describe('security: secrets are compared in constant time', function () {
    this.timeout(30_000);

    it('safeEqual answers correctly for equal, different, differently long and Unicode inputs, always through timingSafeEqual on two 32-byte digests', async () => {
      const cases: Array<[string, string, boolean]> = [
        ['s3cret-password', 's3cret-password', true],
        ['s3cret-password', 's3cret-passworD', false],
        ['short', 'a much longer string than the first', false],
        ['', '', true],
        ['', 'x', false],
        ['é', 'é', true],
        ['é', 'e\u0301', false],
        ['😀', '😀', true],
      ];
      const { calls } = await spyTimingSafeEqual(async () => {
        for (const [a, b, want] of cases) expect(safeEqual(a, b), `${a} vs ${b}`).to.equal(want);
      });
      expect(calls).to.have.length(cases.length);
      // Hashing both sides first means the lengths compared are always equal: no early exit, no length leak.
      for (const [a, b] of calls) expect([a.length, b.length]).to.deep.equal([32, 32]);
    });

    describe('on a running platform', () => {
      let t: TestPlatform;
      let username: string;
      let password: string;
      const METRICS_TOKEN = 'metrics-token-for-the-spy-0123';
      beforeEach(async () => {
        t = await startTestPlatform({ METRICS_TOKEN, AUTH_MAX_FAILURES_PER_IP: '1000', AUTH_MAX_FAILURES_PER_USERNAME: '1000' });
        await t.api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
        const tr = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Timing' }));
        ({ username, password } = (await t.api('GET', `/v1/sms_trunks/${tr.body.data.id}/credentials`)).body.data.attributes);
      });
      afterEach(async () => {
        await t.stop();
      });
      const body = single({ destination: '15551234567', source: SOURCE, content: 'x' });

      it('checks a Basic password through timingSafeEqual, right or wrong', async () => {
        for (const presented of ['wrong-password-0123456789abcdef', password]) {
          const { result, calls } = await spyTimingSafeEqual(() => sendSms(t.url, basic(username, presented), body));
          expect(result.status).to.equal(presented === password ? 201 : 401);
          expect(sawDigestOf(calls, presented), `the presented password went through timingSafeEqual (${calls.length} calls)`).to.equal(true);
        }
      });

      it('spends a comparison on an unknown username too, so timing does not tell known usernames apart', async () => {
        const { result, calls } = await spyTimingSafeEqual(() => sendSms(t.url, basic('out_nosuchuser1', 'whatever-password'), body));
        expect(result.status).to.equal(401);
        expect(calls.length).to.be.at.least(1);
      });

      it('checks ADMIN_TOKEN and METRICS_TOKEN through timingSafeEqual', async () => {
        const wrong = 'test-admin-token-0123456789abcdeX';
        const admin = await spyTimingSafeEqual(() => request(`${t.url}/v1/dids`, { headers: { authorization: `Bearer ${wrong}` } }));
        expect(admin.result.status).to.equal(401);
        expect(sawDigestOf(admin.calls, wrong)).to.equal(true);
        const metrics = await spyTimingSafeEqual(() => request(`${t.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } }));
        expect(metrics.result.status).to.equal(401);
        expect(sawDigestOf(metrics.calls, `Bearer ${METRICS_TOKEN}x`)).to.equal(true);
      });

      it('keeps admin and share tokens only as SHA-256 hashes (looked up by hash, never compared in clear)', async () => {
        const created = await t.api('POST', '/v1/admin_tokens', doc('admin_tokens', { name: 'hashed' }));
        const token: string = created.body.data.attributes.token;
        const trunkId = (await t.api('GET', '/v1/sms_trunks')).body.data[0].id;
        const share = await t.api('POST', `/v1/sms_trunks/${trunkId}/credentials/share`, doc('share_links', {}));
        const shareToken = String(share.body.data.attributes.url).split('/share/')[1]!;
        const knex = t.platform.db.knex;
        expect((await knex('admin_tokens').where({ id: created.body.data.id }).first()).token_hash).to.equal(sha256(token).toString('hex'));
        expect((await knex('share_links').where({ id: share.body.data.id }).first()).token_hash).to.equal(sha256(shareToken).toString('hex'));
        // And the clear values are nowhere in the database.
        for (const table of ['admin_tokens', 'share_links', 'audit_events', 'trunk_credentials']) {
          const text = JSON.stringify(await knex(table).select('*'));
          for (const secret of [token, shareToken, password]) expect(text, `${table} holds a secret in clear`).to.not.contain(secret);
        }
      });
    });
  });

  describe('security: no secret reaches the log of a whole run', function () {
    this.timeout(90_000);
    let server: ServerProcess | undefined;
    let rx: CallbackReceiver;
    let dataDir: string;
    let dropDb: (() => Promise<void>) | undefined;
    before(() => ensureBuilt());
    after(async () => {
      if (server && server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill('SIGKILL');
        await server.exited;
      }
      await rx?.stop();
      await dropDb?.();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('never writes passwords, tokens, share links, callback secrets or the secrets key, at the most verbose level, whatever happens', async () => {
      const ADMIN_TOKEN = 'log-run-admin-token-0123456789abcdef';
      const METRICS_TOKEN = 'log-run-metrics-token-0123456789';
      const SECRETS_KEY = crypto.randomBytes(32).toString('hex');
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sms-out-logs-'));
      rx = await new CallbackReceiver().start();
      const pg = process.env.TEST_DATABASE_URL ? await createPgDatabase(process.env.TEST_DATABASE_URL) : undefined;
      dropDb = pg?.drop;
      server = await startServer({
        ...(pg ? { DATABASE_URL: pg.url } : {}),
        DATA_DIR: dataDir,
        ADMIN_TOKEN,
        METRICS_TOKEN,
        SECRETS_KEY,
        LOG_LEVEL: 'trace',
        CALLBACK_ALLOW_CIDRS: '127.0.0.0/8',
        SIMULATOR_RECEIPT_DELAY_MS: '20',
        AUTH_MAX_FAILURES_PER_IP: '3',
      });
      const url = server.url;
      const secrets: string[] = [ADMIN_TOKEN, METRICS_TOKEN, SECRETS_KEY, Buffer.from(SECRETS_KEY, 'hex').toString('base64')];
      const api = async (method: string, p: string, body?: unknown, token = ADMIN_TOKEN) => {
        const res = await request(url + p, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/vnd.api+json' } : {}) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return res;
      };

      await api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
      const trunk = (await api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Logged', callback_url: rx.url, dlr_events: true }))).body.data;
      const first = (await api('GET', `/v1/sms_trunks/${trunk.id}/credentials`)).body.data.attributes;
      const rotated = (await api('POST', `/v1/sms_trunks/${trunk.id}/credentials/regenerate`, doc('credential_regenerations', { grace_period_seconds: 600 }))).body.data.attributes;
      const whsec1 = (await api('GET', `/v1/sms_trunks/${trunk.id}/callback_secret`)).body.data.attributes.secret;
      const whsec2 = (await api('POST', `/v1/sms_trunks/${trunk.id}/callback_secret/rotate`, doc('callback_secret_rotations', { grace_period_seconds: 600 }))).body.data.attributes.secret;
      const shareUrl: string = (await api('POST', `/v1/sms_trunks/${trunk.id}/credentials/share`, doc('share_links', { recipient: 'ops' }))).body.data.attributes.url;
      const shareToken = shareUrl.split('/share/')[1]!;
      const sharePath = `/share/${shareToken}`;
      expect((await request(url + sharePath, { headers: { accept: 'application/vnd.api+json' } })).status).to.equal(200);
      expect((await request(url + sharePath, { method: 'POST', headers: { accept: 'application/vnd.api+json' } })).status).to.equal(200);
      expect((await request(url + sharePath, { method: 'POST', headers: { accept: 'text/html' } })).status).to.equal(410);
      const extra = (await api('POST', '/v1/admin_tokens', doc('admin_tokens', { name: 'second' }))).body.data;
      const extraToken: string = extra.attributes.token;
      expect((await api('GET', '/v1/dids', undefined, extraToken)).status).to.equal(200);
      expect((await api('DELETE', `/v1/admin_tokens/${extra.id}`)).status).to.equal(204);
      expect((await api('GET', '/v1/dids', undefined, extraToken)).status).to.equal(401);
      secrets.push(first.password, rotated.password, whsec1, whsec2, whsec1.replace(/^whsec_/, ''), whsec2.replace(/^whsec_/, ''), shareToken, extraToken);

      // Sending with the old (grace) and the new password, failures, an Idempotency-Key, and the callbacks that follow.
      const sent: string[] = [];
      for (const [pw, key] of [
        [first.password, 'idem-key-in-the-log-check-1'],
        [rotated.password, undefined],
      ] as const) {
        const r = await sendSms(url, basic(first.username, pw), single({ destination: '15551234567', source: SOURCE, content: 'logged' }), { headers: key ? { 'idempotency-key': key } : {} });
        expect(r.status).to.equal(201);
        sent.push(r.body.data.id);
      }
      const wrongPasswords = ['wrong-password-for-log-check-1', 'wrong-password-for-log-check-2'];
      for (const pw of wrongPasswords) expect((await sendSms(url, basic(first.username, pw), single({ destination: '15551234567', source: SOURCE, content: 'x' }))).status).to.equal(401);
      // The admin token presented as a Basic password, and from a blocked address once the guard trips.
      expect((await sendSms(url, basic(first.username, ADMIN_TOKEN), single({ destination: '15551234567', source: SOURCE, content: 'x' }))).status).to.be.oneOf([401, 429]);
      expect((await sendSms(url, basic(first.username, rotated.password), single({ destination: '15551234567', source: SOURCE, content: 'x' }))).status).to.equal(429);
      const wrongToken = 'a-wrong-admin-token-for-the-log-check';
      expect((await request(`${url}/v1/dids`, { headers: { authorization: `Bearer ${wrongToken}` }, localAddress: '127.0.0.5' })).status).to.equal(401);
      expect((await request(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` }, localAddress: '127.0.0.5' })).status).to.equal(200);
      expect((await request(`${url}/metrics`, { headers: { authorization: 'Bearer wrong-metrics-token-0001' }, localAddress: '127.0.0.5' })).status).to.equal(401);
      secrets.push(...wrongPasswords, wrongToken, 'wrong-metrics-token-0001');
      for (const pw of [first.password, rotated.password, ADMIN_TOKEN, ...wrongPasswords]) secrets.push(Buffer.from(`${first.username}:${pw}`).toString('base64'));

      // A sign-in to the web panel (form post with the admin token and a CSRF cookie).
      const login = await request(`${url}/panel/login`, { localAddress: '127.0.0.6' });
      if (login.status === 200) {
        const cookies = ([] as string[]).concat(login.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!);
        const csrf = /name="_csrf" value="([^"]+)"/.exec(login.text)?.[1];
        if (csrf) {
          const signedIn = await request(`${url}/panel/login`, {
            method: 'POST',
            headers: { cookie: cookies.join('; '), 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ _csrf: csrf, token: ADMIN_TOKEN }).toString(),
            localAddress: '127.0.0.6',
          });
          for (const c of ([] as string[]).concat(signedIn.headers['set-cookie'] ?? [])) secrets.push(c.split(';')[0]!.split('=').slice(1).join('='));
          secrets.push(csrf);
        }
      }

      await rx.waitFor(() => sent.every((id) => rx.forMessage(id).length >= 2), 15_000, 'both callbacks of both messages');
      server.child.kill('SIGTERM');
      expect(await server.exited).to.equal(0);
      const log = server.output();
      if (process.env.SECURITY_LOG_FILE) fs.writeFileSync(process.env.SECURITY_LOG_FILE, log);
      counts.logBytes += log.length;
      expect(log, 'the log recorded the run (requests at trace level)').to.contain('/outbound_messages');
      expect(log).to.contain('/share/[REDACTED]');
      const leaked = [...new Set(secrets.filter((s) => s && s.length >= 8))].filter((s) => log.includes(s));
      counts.secretsChecked += new Set(secrets).size;
      counts.leaked += leaked.length;
      expect(leaked.map((s) => `${s.slice(0, 6)}… (${s.length} chars)`), 'secrets found in the log').to.deep.equal([]);
    });
  });

  describe('security: the SSRF guard holds at delivery time', function () {
    this.timeout(30_000);
    let t: TestPlatform | undefined;
    let rx: CallbackReceiver;
    const original = dns.lookup;
    beforeEach(async () => {
      rx = await new CallbackReceiver().start();
    });
    afterEach(async () => {
      (dns as { lookup: typeof original }).lookup = original;
      await t?.stop();
      t = undefined;
      await rx.stop();
    });

    /** Resolves names under .rebind.test to `answers` (a DNS server that rebinds), everything else as usual. */
    function fakeDns(answers: (hostname: string, n: number) => dns.LookupAddress[]): void {
      let n = 0;
      (dns as { lookup: unknown }).lookup = (hostname: string, options: any, callback: any) => {
        if (typeof options === 'function') [options, callback] = [{}, options];
        if (!hostname.endsWith('.rebind.test')) return (original as any)(hostname, options, callback);
        const list = answers(hostname, n++);
        process.nextTick(() => (options?.all ? callback(null, list) : callback(null, list[0]!.address, list[0]!.family)));
      };
    }

    async function sendOne(env: Record<string, string>, host: string): Promise<{ id: string; t: TestPlatform }> {
      // CALLBACK_THREAD=false: the fake resolver replaces dns.lookup in this thread only; the guard is the same code in either thread.
      const platform = await startTestPlatform({ SIMULATOR_RECEIPT_DELAY_MS: '20', CALLBACK_TIMEOUT_MS: '1000', CALLBACK_THREAD: 'false', ...env }, { retryPolicy: { initialDelayMs: 100, maxDelayMs: 200, jitter: 0 } });
      await platform.api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
      const port = new URL(rx.url).port;
      const tr = await platform.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Rebind', callback_url: `http://${host}:${port}/callbacks` }));
      expect(tr.status, `a name is judged at delivery, not when saved: ${tr.text}`).to.equal(201);
      const c = (await platform.api('GET', `/v1/sms_trunks/${tr.body.data.id}/credentials`)).body.data.attributes;
      const r = await sendSms(platform.url, basic(c.username, c.password), single({ destination: '15551234567', source: SOURCE, content: 'x' }));
      expect(r.status).to.equal(201);
      return { id: r.body.data.id, t: platform };
    }

    const history = async (platform: TestPlatform, id: string) => {
      for (const deadline = Date.now() + 10_000; ; ) {
        const cbs = (await platform.api('GET', `/v1/messages/${id}`)).body.data.attributes.callbacks;
        const h = cbs?.[0]?.history ?? [];
        if (h.length >= 2 || cbs?.[0]?.state === 'delivered' || Date.now() > deadline) return { state: cbs?.[0]?.state, history: h as Array<{ error: string | null; status_code: number | null }> };
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    for (const [what, answers] of [
      ['a name that rebinds from a public address to 127.0.0.1', (_h: string, n: number) => [{ address: n === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }]],
      ['a name that resolves to 127.0.0.1', () => [{ address: '127.0.0.1', family: 4 }]],
      ['a name with a public and a loopback address', () => [{ address: '93.184.216.34', family: 4 }, { address: '127.0.0.1', family: 4 }]],
      ['a name that resolves to the IPv4-mapped ::ffff:127.0.0.1', () => [{ address: '::ffff:127.0.0.1', family: 6 }]],
      ['a name that resolves to the cloud metadata address', () => [{ address: '169.254.169.254', family: 4 }]],
    ] as const) {
      it(`refuses ${what} when CALLBACK_ALLOW_CIDRS is empty, and records why`, async () => {
        // The first answer is spent by a probe, as a validating client would; every later one goes to the worker.
        fakeDns(answers as (h: string, n: number) => dns.LookupAddress[]);
        await new Promise((r) => dns.lookup('probe.rebind.test', {}, r));
        const s = await sendOne({}, 'cb.rebind.test');
        t = s.t;
        const { state, history: h } = await history(t, s.id);
        expect(state).to.equal('pending');
        expect(h.length).to.be.at.least(1);
        for (const attempt of h) expect(attempt.error).to.match(/callback blocked: cb\.rebind\.test resolves to/);
        expect(rx.received, 'the receiver on 127.0.0.1 got nothing').to.have.length(0);
        counts.rebindingRefused += h.length;
      });
    }

    it('delivers to the same name when CALLBACK_ALLOW_CIDRS lists 127.0.0.0/8 (the refusal above is the guard, not the fake resolver)', async () => {
      fakeDns(() => [{ address: '127.0.0.1', family: 4 }]);
      const s = await sendOne({ CALLBACK_ALLOW_CIDRS: '127.0.0.0/8' }, 'cb.rebind.test');
      t = s.t;
      await rx.waitFor((r) => r.length >= 1);
      expect(rx.received[0]!.json.data.id).to.equal(s.id);
    });

    // Literal IPs skip the DNS lookup hook; the worker judges them itself before connecting.
    it('refuses a literal loopback URL saved while allowed, once CALLBACK_ALLOW_CIDRS no longer lists it', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sms-out-ssrf-'));
      const pg = process.env.TEST_DATABASE_URL ? await createPgDatabase(process.env.TEST_DATABASE_URL) : undefined;
      const shared = { DATA_DIR: dir, SIMULATOR_RECEIPT_DELAY_MS: '20', ...(pg ? { DATABASE_URL: pg.url } : {}) };
      try {
        const before = await startTestPlatform({ ...shared, CALLBACK_ALLOW_CIDRS: '127.0.0.0/8' });
        await before.api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
        const tr = await before.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Literal', callback_url: rx.url }));
        const c = (await before.api('GET', `/v1/sms_trunks/${tr.body.data.id}/credentials`)).body.data.attributes;
        await before.stop();
        t = await startTestPlatform(shared);
        const r = await sendSms(t.url, basic(c.username, c.password), single({ destination: '15551234567', source: SOURCE, content: 'x' }));
        const { history: h } = await history(t, r.body.data.id);
        expect(h[0]?.error).to.match(/callback blocked/);
        expect(rx.received).to.have.length(0);
      } finally {
        await t?.stop();
        t = undefined;
        await pg?.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('security: trunks and administrators stay apart', function () {
    this.timeout(60_000);
    let t: TestPlatform;
    let a: { auth: string; username: string; password: string; ids: string[] };
    let b: { auth: string; username: string; password: string; ids: string[] };
    before(async () => {
      t = await startTestPlatform({ AUTH_MAX_FAILURES_PER_IP: '100000', AUTH_MAX_FAILURES_PER_USERNAME: '100000' });
      await t.api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
      const make = async (name: string) => {
        const tr = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name }));
        const c = (await t.api('GET', `/v1/sms_trunks/${tr.body.data.id}/credentials`)).body.data.attributes;
        const auth = basic(c.username, c.password);
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) ids.push((await sendSms(t.url, auth, single({ destination: `155512345${10 + i}`, source: SOURCE, content: `${name} ${i}` }))).body.data.id);
        return { auth, username: c.username as string, password: c.password as string, ids };
      };
      a = await make('Trunk A');
      b = await make('Trunk B');
    });
    after(async () => {
      await t.stop();
    });

    it('trunk credentials open no admin route, and the admin token opens no trunk route', async () => {
      for (const p of ['/v1', '/v1/messages', `/v1/messages/${a.ids[0]}`, '/v1/sms_trunks', '/v1/audit_events', '/v1/admin_tokens']) {
        for (const authorization of [a.auth, `Bearer ${a.password}`, `Bearer ${a.username}:${a.password}`]) {
          const r = await request(t.url + p, { headers: { authorization } });
          expect(r.status, `${p} with trunk credentials`).to.equal(401);
        }
      }
      const adminOnSend = [`Bearer ${t.token}`, basic('admin', t.token), basic(a.username, t.token)];
      for (const authorization of adminOnSend) {
        expect((await request(`${t.url}/outbound_messages/${a.ids[0]}`, { headers: { authorization } })).status).to.equal(401);
        expect((await sendSms(t.url, authorization, single({ destination: '15551234567', source: SOURCE, content: 'x' }))).status).to.equal(401);
      }
    });

    it("answers another trunk's message id exactly like an id that does not exist, through 600 guesses", async () => {
      const notFound = async (auth: string, id: string) => {
        const r = await request(`${t.url}/outbound_messages/${id}`, { headers: { authorization: auth } });
        counts.guesses++;
        return r;
      };
      const reference = await notFound(b.auth, '00000000-0000-7000-8000-000000000000');
      expect(reference.status).to.equal(404);
      const shape = (r: { status: number; body: any }, id: string) => JSON.stringify({ status: r.status, body: r.body }).split(id).join('<id>');
      const wantShape = shape(reference, '00000000-0000-7000-8000-000000000000');
      // B's own messages are readable (the loop below is not refused for some other reason).
      for (const id of b.ids) expect((await notFound(b.auth, id)).status).to.equal(200);

      const guesses = new Set<string>();
      const hex = '0123456789abcdef';
      for (const id of a.ids) {
        guesses.add(id);
        guesses.add(id.toUpperCase());
        for (let k = 0; k < 10; k++) {
          // Neighbours of a real id: ids are UUIDv7 (time-ordered), so the prefix of A's ids is guessable; the random tail is not.
          const pos = id.length - 1 - k;
          for (const c of hex.slice(0, 4)) if (id[pos] !== c) guesses.add(id.slice(0, pos) + c + id.slice(pos + 1));
        }
      }
      for (const id of b.ids) {
        // Ids minted next to B's own: same timestamp prefix, other tails.
        for (let k = 0; k < 20; k++) guesses.add(id.slice(0, 24) + crypto.randomBytes(6).toString('hex'));
      }
      const answered: string[] = [];
      for (const id of [...guesses].slice(0, 600)) {
        const r = await notFound(b.auth, id);
        if (r.status !== 404 || shape(r, id) !== wantShape) answered.push(`${id}: ${r.status} ${r.text.slice(0, 120)}`);
      }
      expect(answered, "guesses that told B something about A's messages").to.deep.equal([]);
      // Encodings of A's ids do not slip past the trunk filter either.
      for (const id of a.ids.slice(0, 3)) {
        for (const variant of [`${id}%20`, `%20${id}`, `${id}%0A`, encodeURIComponent(id).replace(/-/g, '%2D'), `${id}%00`, `..%2F${id}`, `${id}?trunk=A`]) {
          const r = await notFound(b.auth, variant);
          if (r.status === 200) answered.push(`${variant}: 200`);
          expect(r.status, variant).to.be.oneOf([400, 404]);
        }
      }
      // And A still reads its own.
      for (const id of a.ids) expect((await notFound(a.auth, id)).status).to.equal(200);
    });
  });
});
