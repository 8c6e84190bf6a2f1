import { expect } from 'chai';
import { verifyCallback } from '../../control-plane/src/callbacks/signing';
import { CallbackReceiver } from '../support/callback-receiver';
import { doc, rel, startTestPlatform, TestPlatform } from '../support/platform';
import { basic, bulk, sendSms, single } from '../support/send-client';

const SOURCE = '12125551234';

interface Fixture {
  t: TestPlatform;
  rx: CallbackReceiver;
  trunkId: string;
  auth: string;
  secret: string;
}

async function setup(trunkAttrs: Record<string, unknown> = {}, env: Record<string, string> = {}, options = {}): Promise<Fixture> {
  const rx = await new CallbackReceiver().start();
  const t = await startTestPlatform({ CALLBACK_ALLOW_CIDRS: '127.0.0.0/8,::1/128', SIMULATOR_RECEIPT_DELAY_MS: '20', ...env }, options);
  await t.api('POST', '/v1/dids', doc('dids', { number: SOURCE }));
  await t.api('POST', '/v1/dids', doc('dids', { number: '12125550000' }));
  const tr = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'App', callback_url: rx.url, dlr_events: true, ...trunkAttrs }));
  expect(tr.status, tr.text).to.equal(201);
  const c = (await t.api('GET', `/v1/sms_trunks/${tr.body.data.id}/credentials`)).body.data.attributes;
  const secret = (await t.api('GET', `/v1/sms_trunks/${tr.body.data.id}/callback_secret`)).body.data.attributes.secret;
  return { t, rx, trunkId: tr.body.data.id, auth: basic(c.username, c.password), secret };
}

async function teardown(f: Fixture | undefined) {
  if (!f) return;
  await f.t.stop();
  await f.rx.stop();
}

const messageCount = async (t: TestPlatform) => (await t.api('GET', '/v1/messages?page[size]=1')).body.meta.total as number;

describe('send path: DIDWW-compatible API → simulator → signed callbacks', function () {
  this.timeout(30_000);
  let f: Fixture | undefined;
  afterEach(async () => {
    await teardown(f);
    f = undefined;
  });

  // The store thread (SQLite's default) and the in-process commit rounds (STORE_THREAD=false) give the same result.
  for (const storeThread of ['true', 'false']) {
    it(`sends one SMS and delivers a signed status callback and a DLR event, in sequence (STORE_THREAD=${storeThread})`, async () => {
      f = await setup({}, { STORE_THREAD: storeThread });
      const res = await sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: 'Hello World!' }));
      expect(res.status).to.equal(201);
      expect(res.headers['content-type']).to.match(/application\/vnd\.api\+json/);
      const id = res.body.data.id;
      expect(res.body.data.type).to.equal('outbound_messages');
      expect(id).to.match(/^[0-9a-f-]{36}$/);

      await f.rx.waitFor((r) => r.length >= 2);
      const [status, dlr] = f.rx.forMessage(id);
      for (const cb of [status!, dlr!]) {
        const verified = verifyCallback({ body: cb.body, headers: cb.headers as Record<string, string>, secret: f.secret });
        expect(verified.id).to.equal(cb.json.meta.event_id);
        expect(cb.headers['content-type']).to.equal('application/vnd.api+json');
      }
      expect(status!.json.data).to.deep.include({ type: 'outbound_message_callbacks', id });
      expect(status!.json.data.attributes).to.include({ status: 'Success', code_id: null, destination: '15551234567', source: SOURCE, fragments_sent: 1 });
      expect(status!.json.meta).to.include({ message_id: id, sequence: 1 });
      expect(dlr!.json.data).to.deep.include({ type: 'dlr_event', id });
      expect(dlr!.json.data.attributes).to.include({ status: 'DELIVERED', parts_total: 1, parts_delivered: 1 });
      expect(dlr!.json.meta.sequence).to.equal(2);
      expect(() => verifyCallback({ body: status!.body + ' ', headers: status!.headers as Record<string, string>, secret: f!.secret })).to.throw();

      const view = await fetch(`${f.t.url}/outbound_messages/${id}`, { headers: { authorization: f.auth } }).then((r) => r.json());
      expect(view.data.attributes).to.include({ status: 'delivered', final_status: 'DELIVERED', encoding: 'gsm7', segments: 1 });
      expect(view.data.attributes.events.map((e: any) => e.type)).to.deep.equal(['accepted', 'submitted', 'receipt', 'final']);
    });
  }

  it('reports carrier outcomes: UNDELIVERABLE as a DLR, a routing failure as "Routing error" with code_id 105 and no DLR', async () => {
    f = await setup();
    const undeliv = (await sendSms(f.t.url, f.auth, single({ destination: '15551234560', source: SOURCE, content: 'x' }))).body.data.id;
    const routing = (await sendSms(f.t.url, f.auth, single({ destination: '15551234568', source: SOURCE, content: 'x' }))).body.data.id;
    await f.rx.waitFor((r) => r.length >= 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(f.rx.forMessage(undeliv).map((c) => c.json.data.attributes.status)).to.deep.equal(['Success', 'UNDELIVERABLE']);
    const routed = f.rx.forMessage(routing);
    expect(routed).to.have.length(1);
    expect(routed[0]!.json.data.attributes).to.include({ status: 'Routing error', code_id: 105, fragments_sent: 0 });
  });

  it('sends only the status callback when DLR events are off', async () => {
    f = await setup({ dlr_events: false });
    const id = (await sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: 'x' }))).body.data.id;
    await f.rx.waitFor((r) => r.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(f.rx.forMessage(id)).to.have.length(1);
    const view = await fetch(`${f.t.url}/outbound_messages/${id}`, { headers: { authorization: f.auth } }).then((r) => r.json());
    expect(view.data.attributes.final_status).to.equal('DELIVERED');
  });

  it('splits a long message into segments and reports fragments_sent', async () => {
    f = await setup();
    const res = await sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: 'a'.repeat(200) }));
    expect(res.body.data.attributes).to.deep.equal({ encoding: 'gsm7', segments: 2 });
    await f.rx.waitFor((r) => r.length >= 2);
    const [status, dlr] = f.rx.forMessage(res.body.data.id);
    expect(status!.json.data.attributes.fragments_sent).to.equal(2);
    expect(dlr!.json.data.attributes).to.include({ status: 'DELIVERED', parts_total: 2, parts_delivered: 2 });
    const emoji = await sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: 'Hi 👋' }));
    expect(emoji.body.data.attributes).to.deep.equal({ encoding: 'ucs2', segments: 1 });
  });

  it('accepts a bulk of 1000 destinations with one id per destination, in order, and calls back for each', async () => {
    f = await setup({ dlr_events: false });
    const destinations = Array.from({ length: 1000 }, (_, i) => `1555${String(1_000_000 + i)}1`);
    const res = await sendSms(f.t.url, f.auth, bulk({ destination: destinations, source: SOURCE, content: 'Bulk hello' }), { path: '/bulk_outbound_messages' });
    expect(res.status).to.equal(201);
    expect(res.body.data.type).to.equal('bulk_outbound_messages');
    const ids: string[] = res.body.data.attributes.message_ids;
    expect(ids).to.have.length(1000);
    expect(new Set(ids).size).to.equal(1000);
    expect(res.body.data.relationships.outbound_messages.data.map((d: any) => d.id)).to.deep.equal(ids);
    await f.rx.waitFor((r) => r.length >= 1000, 20_000);
    const byId = new Map(f.rx.received.map((c) => [c.json.data.id, c.json.data.attributes.destination]));
    ids.forEach((id, i) => expect(byId.get(id)).to.equal(destinations[i]));
    // As stored (a bulk's shared columns are written once per request): each row its own id and destination.
    const rows = await f.t.platform.db.knex('messages').whereIn('id', ids).select('id', 'destination', 'source', 'content', 'trunk_id', 'segments');
    expect(rows).to.have.length(1000);
    const stored = new Map(rows.map((r) => [r.id, r]));
    ids.forEach((id, i) => expect(stored.get(id)).to.include({ destination: destinations[i], source: SOURCE, content: 'Bulk hello', trunk_id: f.trunkId }));
    expect(new Set(rows.map((r) => Number(r.segments)))).to.deep.equal(new Set([1]));
  });

  it('fails when a bulk holds 1001 destinations, storing nothing', async () => {
    f = await setup();
    const destinations = Array.from({ length: 1001 }, (_, i) => `1555${String(1_000_000 + i)}1`);
    const res = await sendSms(f.t.url, f.auth, bulk({ destination: destinations, source: SOURCE, content: 'x' }), { path: '/bulk_outbound_messages' });
    expect(res.status).to.equal(400);
    expect(res.body.errors[0]).to.include({ status: '400', code: 'TOO_MANY_DESTINATIONS' });
    expect(await messageCount(f.t)).to.equal(0);
  });

  describe('every rejection, in DIDWW order, stores nothing and calls nobody back', () => {
    const cases: Array<[string, (f: Fixture) => Promise<{ status: number; body: any; headers: any }>, number, string, string?]> = [
      ['no credentials', (f) => sendSms(f.t.url, '', single({ destination: '15551234567', source: SOURCE, content: 'x' })), 401, 'UNAUTHORIZED'],
      ['a wrong password', (f) => sendSms(f.t.url, basic('out_nobody', 'x'), single({ destination: '15551234567', source: SOURCE, content: 'x' })), 401, 'UNAUTHORIZED'],
      ['a bearer token instead of Basic', (f) => sendSms(f.t.url, `Bearer ${f.t.token}`, single({ destination: '15551234567', source: SOURCE, content: 'x' })), 401, 'UNAUTHORIZED'],
      ['a form content type', (f) => sendSms(f.t.url, f.auth, 'destination=1', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['plain application/json', (f) => sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: 'x' }), { headers: { 'content-type': 'application/json' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['malformed JSON', (f) => sendSms(f.t.url, f.auth, '{"data":'), 400, 'INVALID_JSON'],
      ['the wrong type', (f) => sendSms(f.t.url, f.auth, bulk({ destination: ['15551234567'], source: SOURCE, content: 'x' })), 400, 'INVALID_TYPE', '/data/type'],
      ['a destination with "+"', (f) => sendSms(f.t.url, f.auth, single({ destination: '+15551234567', source: SOURCE, content: 'x' })), 400, 'INVALID_ATTRIBUTE', '/data/attributes/destination'],
      ['no source', (f) => sendSms(f.t.url, f.auth, single({ destination: '15551234567', content: 'x' })), 400, 'INVALID_ATTRIBUTE', '/data/attributes/source'],
      ['empty content', (f) => sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: '' })), 400, 'INVALID_ATTRIBUTE', '/data/attributes/content'],
      ['content over 10 segments', (f) => sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: 'x'.repeat(1531) })), 400, 'CONTENT_TOO_LONG', '/data/attributes/content'],
      ['a source that is no SMS-OUT DID', (f) => sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: '19990001111', content: 'x' })), 422, 'SOURCE_NOT_ALLOWED', '/data/attributes/source'],
    ];
    for (const [what, act, status, code, pointer] of cases) {
      it(`fails with ${status} ${code} for ${what}`, async () => {
        f = await setup();
        const res = await act(f);
        expect(res.status, JSON.stringify(res.body)).to.equal(status);
        expect(res.body.errors[0]).to.include({ status: String(status), code });
        if (pointer) expect(res.body.errors[0].source.pointer).to.equal(pointer);
        expect(await messageCount(f.t)).to.equal(0);
        await new Promise((r) => setTimeout(r, 100));
        expect(f.rx.received).to.have.length(0);
      });
    }

    it('fails with 403 when the trunk is blocked, before looking at the body', async () => {
      f = await setup({ blocked: true });
      const res = await sendSms(f.t.url, f.auth, 'not even json');
      expect(res.status).to.equal(403);
      expect(res.body.errors[0].code).to.equal('TRUNK_BLOCKED');
      expect(await messageCount(f.t)).to.equal(0);
    });

    it('fails with 422 when the source is an SMS-OUT DID the trunk does not list', async () => {
      f = await setup();
      await f.t.api('PATCH', `/v1/sms_trunks/${f.trunkId}`, doc('sms_trunks', { allow_any_did_as_source: false }, { outgoing_dids: rel('dids', ['12125550000']) }));
      const res = await sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: 'x' }));
      expect(res.status).to.equal(422);
      const ok = await sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: '12125550000', content: 'x' }));
      expect(ok.status).to.equal(201);
    });

    it('fails with 429 and Retry-After past the trunk rate limit', async () => {
      f = await setup({ rate_limit_per_second: 2 });
      const body = single({ destination: '15551234567', source: SOURCE, content: 'x' });
      const statuses = [];
      let limited: any;
      for (let i = 0; i < 4; i++) {
        const r = await sendSms(f.t.url, f.auth, body);
        statuses.push(r.status);
        if (r.status === 429) limited = r;
      }
      expect(statuses.slice(0, 2)).to.deep.equal([201, 201]);
      expect(statuses).to.include(429);
      expect(Number(limited.headers['retry-after'])).to.be.at.least(1);
      expect(limited.body.errors[0].code).to.equal('RATE_LIMITED');
      expect(await messageCount(f.t)).to.equal(statuses.filter((s) => s === 201).length);
    });
  });

  describe('allowed client IPs', () => {
    it('admits 127.0.0.2 and refuses 127.0.0.1 when only 127.0.0.2/32 is allowed', async () => {
      f = await setup({ allowed_ips: ['127.0.0.2/32'] });
      const body = single({ destination: '15551234567', source: SOURCE, content: 'x' });
      expect((await sendSms(f.t.url, f.auth, body, { localAddress: '127.0.0.2' })).status).to.equal(201);
      const refused = await sendSms(f.t.url, f.auth, body, { localAddress: '127.0.0.1' });
      expect(refused.status).to.equal(401);
      expect(refused.body.errors[0].code).to.equal('IP_NOT_ALLOWED');
    });

    it('admits ::1 with an IPv6 entry and matches IPv4 clients of a dual-stack listener (::ffff:127.0.0.2) against IPv4 entries', async () => {
      f = await setup({ allowed_ips: ['::1/128', '127.0.0.2/32'] }, { HOST: '::' });
      const body = single({ destination: '15551234567', source: SOURCE, content: 'x' });
      const port = new URL(f.t.url).port;
      expect((await sendSms(f.t.url, f.auth, body, { localAddress: '::1' })).status).to.equal(201);
      expect((await sendSms(`http://127.0.0.1:${port}`, f.auth, body, { localAddress: '127.0.0.2' })).status).to.equal(201);
      expect((await sendSms(`http://127.0.0.1:${port}`, f.auth, body, { localAddress: '127.0.0.3' })).status).to.equal(401);
      await f.t.api('PATCH', `/v1/sms_trunks/${f.trunkId}`, doc('sms_trunks', { allowed_ips: ['127.0.0.0/8'] }));
      expect((await sendSms(f.t.url, f.auth, body, { localAddress: '::1' })).status).to.equal(401);
    });

    it('honours X-Forwarded-For only from a configured proxy', async () => {
      f = await setup({ allowed_ips: ['203.0.113.7/32'] }, { TRUSTED_PROXIES: '127.0.0.1/32' });
      const body = single({ destination: '15551234567', source: SOURCE, content: 'x' });
      const viaProxy = await sendSms(f.t.url, f.auth, body, { localAddress: '127.0.0.1', headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.7' } });
      expect(viaProxy.status).to.equal(201);
      const spoofed = await sendSms(f.t.url, f.auth, body, { localAddress: '127.0.0.5', headers: { 'x-forwarded-for': '203.0.113.7' } });
      expect(spoofed.status).to.equal(401);
    });
  });

  describe('Idempotency-Key', () => {
    it('returns the original response for the same key and body, and 422 for the same key with another body', async () => {
      f = await setup({ dlr_events: false });
      const body = single({ destination: '15551234567', source: SOURCE, content: 'once' });
      const first = await sendSms(f.t.url, f.auth, body, { headers: { 'idempotency-key': 'order-42' } });
      const again = await sendSms(f.t.url, f.auth, body, { headers: { 'idempotency-key': 'order-42' } });
      expect(first.status).to.equal(201);
      expect(again.status).to.equal(201);
      expect(again.body).to.deep.equal(first.body);
      expect(again.headers['idempotent-replayed']).to.equal('true');
      const other = await sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: 'twice' }), { headers: { 'idempotency-key': 'order-42' } });
      expect(other.status).to.equal(422);
      expect(other.body.errors[0].code).to.equal('IDEMPOTENCY_KEY_REUSED');
      expect(await messageCount(f.t)).to.equal(1);
    });

    it('creates one message when the same key races in parallel', async () => {
      f = await setup({ dlr_events: false });
      const body = single({ destination: '15551234567', source: SOURCE, content: 'race' });
      const results = await Promise.all(Array.from({ length: 10 }, () => sendSms(f!.t.url, f!.auth, body, { headers: { 'idempotency-key': 'race-1' } })));
      expect(results.map((r) => r.status)).to.deep.equal(Array(10).fill(201));
      expect(new Set(results.map((r) => r.body.data.id)).size).to.equal(1);
      expect(await messageCount(f.t)).to.equal(1);
    });
  });

  it('lets a trunk read only its own messages', async () => {
    f = await setup();
    const id = (await sendSms(f.t.url, f.auth, single({ destination: '15551234567', source: SOURCE, content: 'x' }))).body.data.id;
    const other = await f.t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'Other' }));
    const oc = (await f.t.api('GET', `/v1/sms_trunks/${other.body.data.id}/credentials`)).body.data.attributes;
    const res = await fetch(`${f.t.url}/outbound_messages/${id}`, { headers: { authorization: basic(oc.username, oc.password) } });
    expect(res.status).to.equal(404);
    const own = await fetch(`${f.t.url}/outbound_messages/${id}`, { headers: { authorization: f.auth } });
    expect(own.status).to.equal(200);
  });
});
