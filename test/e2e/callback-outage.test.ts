import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallbackReceiver } from '../support/callback-receiver';
import { doc, startTestPlatform, TestPlatform } from '../support/platform';
import { basic, sendSms, single } from '../support/send-client';

const SOURCE = '12125551234';
const FAST_RETRIES = { initialDelayMs: 50, maxDelayMs: 300, multiplier: 2, jitter: 0 };

async function setup(callbackUrl: string, env: Record<string, string> = {}) {
  const t = await startTestPlatform({ CALLBACK_ALLOW_CIDRS: '127.0.0.0/8', SIMULATOR_RECEIPT_DELAY_MS: '20', ...env }, { retryPolicy: FAST_RETRIES });
  await t.api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
  const tr = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'App', callback_url: callbackUrl, dlr_events: false }));
  const c = (await t.api('GET', `/v1/sms_trunks/${tr.body.data.id}/credentials`)).body.data.attributes;
  return { t, auth: basic(c.username, c.password) };
}

async function callbacksOf(t: TestPlatform, id: string): Promise<any[]> {
  return (await t.api('GET', `/v1/messages/${id}`)).body.data.attributes.callbacks;
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('callback delivery through receiver outages', function () {
  this.timeout(30_000);
  let rx: CallbackReceiver;
  let t: TestPlatform | undefined;
  // The reliability summary (docs/RELIABILITY.md): callbacks that got through each outage.
  const counts = { scenarios: 0, delivered: 0, deadLettered: 0, replayed: 0 };
  beforeEach(async () => {
    rx = await new CallbackReceiver().start();
  });
  afterEach(async () => {
    counts.scenarios++;
    counts.delivered += rx.received.length;
    await t?.stop();
    t = undefined;
    await rx.stop();
  });
  after(() => {
    // eslint-disable-next-line no-console
    console.log(`      callback-outage[${process.env.TEST_DATABASE_URL ? 'postgres' : 'sqlite'}]: scenarios=${counts.scenarios} delivered_after_recovery=${counts.delivered} dead_lettered=${counts.deadLettered} replayed=${counts.replayed}`);
  });

  it('retries a receiver that answers 500 until it recovers, recording every attempt', async () => {
    let calls = 0;
    rx.respond = () => ({ status: calls++ < 3 ? 500 : 200 });
    const s = await setup(rx.url);
    t = s.t;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await sendSms(t.url, s.auth, single({ destination: `1555123456${i}`, source: SOURCE, content: 'x' }))).body.data.id);
    await rx.waitFor((r) => r.length >= 5, 15_000);
    expect(new Set(rx.received.map((r) => r.json.data.id))).to.deep.equal(new Set(ids));
    // The receiver answers before the attempt is committed, so the record is awaited, not assumed.
    const all = await until(async () => (await Promise.all(ids.map((id) => callbacksOf(t!, id)))).flat(), (cbs) => cbs.every((c) => c.state === 'delivered'));
    const failures = all.flatMap((c) => c.history).filter((h: any) => h.status_code === 500);
    expect(failures).to.have.length(3);
    expect(all.flatMap((c) => c.history).filter((h: any) => h.status_code === 200)).to.have.length(5);
  });

  it('honours Retry-After from the receiver', async () => {
    let calls = 0;
    rx.respond = () => (calls++ === 0 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 204 });
    const s = await setup(rx.url);
    t = s.t;
    const sent = Date.now();
    const id = (await sendSms(t.url, s.auth, single({ destination: '15551234567', source: SOURCE, content: 'x' }))).body.data.id;
    await rx.waitFor((r) => r.length >= 1);
    expect(rx.received[0]!.receivedAt - sent).to.be.at.least(1000);
    const [cb] = await until(() => callbacksOf(t!, id), (c) => c[0]?.state === 'delivered');
    expect(cb.history.map((h: any) => h.status_code)).to.deep.equal([503, 204]);
  });

  it('counts a timeout as a failed attempt and retries it', async () => {
    let calls = 0;
    rx.respond = () => (calls++ === 0 ? { status: 200, delayMs: 1500 } : { status: 200 });
    const s = await setup(rx.url, { CALLBACK_TIMEOUT_MS: '300' });
    t = s.t;
    const id = (await sendSms(t.url, s.auth, single({ destination: '15551234567', source: SOURCE, content: 'x' }))).body.data.id;
    const [cb] = await until(() => callbacksOf(t!, id), (c) => c[0]?.state === 'delivered');
    expect(cb.history[0].error).to.match(/timed out/);
    expect(cb.history.at(-1).status_code).to.equal(200);
  });

  it('retries a refused connection until a receiver listens on that port', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const s = await setup(`http://127.0.0.1:${port}/late`);
    t = s.t;
    const id = (await sendSms(t.url, s.auth, single({ destination: '15551234567', source: SOURCE, content: 'x' }))).body.data.id;
    await until(() => callbacksOf(t!, id), (c) => c[0]?.attempts >= 2);
    expect((await callbacksOf(t, id))[0].history[0].error).to.match(/ECONNREFUSED/);
    const late: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        late.push(body);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      await until(async () => late.length, (n) => n >= 1);
      expect(JSON.parse(late[0]!).data.id).to.equal(id);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('dead-letters callbacks after the window and delivers them again on replay with the same event id', async () => {
    rx.respond = () => ({ status: 500 });
    const s = await setup(rx.url, { CALLBACK_MAX_AGE_SECONDS: '1' });
    t = s.t;
    const id = (await sendSms(t.url, s.auth, single({ destination: '15551234567', source: SOURCE, content: 'x' }))).body.data.id;
    const [dead] = await until(() => callbacksOf(t!, id), (c) => c[0]?.state === 'dead', 10_000);
    expect(dead.attempts).to.be.at.least(2);
    expect(rx.received).to.have.length(0);
    counts.deadLettered++;

    rx.respond = () => ({ status: 200 });
    const replay = await t.api('POST', `/v1/callbacks/${dead.id}/replay`);
    expect(replay.status).to.equal(202);
    await rx.waitFor((r) => r.length >= 1);
    expect(rx.received[0]!.headers['webhook-id']).to.equal(dead.id);
    counts.replayed++;
    const [after] = await until(() => callbacksOf(t!, id), (c) => c[0]?.state === 'delivered');
    expect(after.history.at(-1).status_code).to.equal(200);
    const audit = await t.api('GET', '/v1/audit_events?filter[action]=callback.replay');
    expect(audit.body.meta.total).to.equal(1);
    expect((await t.api('POST', '/v1/callbacks/unknown/replay')).status).to.equal(404);
  });

  it('refuses callback URLs on private addresses unless CALLBACK_ALLOW_CIDRS lists them', async () => {
    t = await startTestPlatform();
    for (const url of ['http://127.0.0.1/cb', 'http://localhost:8080/cb', 'http://10.1.2.3/cb', 'http://169.254.169.254/latest', 'http://[::1]/cb', 'http://[fd00::1]/cb', 'http://192.168.1.1/']) {
      const res = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: `T ${url}`, callback_url: url }));
      expect(res.status, url).to.equal(400);
      expect(res.body.errors[0].code).to.equal('CALLBACK_URL_FORBIDDEN');
    }
    const ok = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Public', callback_url: 'https://example.com/cb' }));
    expect(ok.status).to.equal(201);
  });
});
